"""The e-licence contract (电子证照): issue, lifecycle, authorised use, status.

Methods (consortium chains only; docs/licences.md has the full rules)
- `issue {type, holder_commitment, holder_key, data_digest, file_digest, valid_from, valid_until,
  sequence?}`: an `issuer` of an organisation that the licence type (registered by governance)
  allows. The licence id is type-issuer-sequence-check; the issuer may choose the sequence
  (so it can render the licence file, id and QR code included, before it issues), else the
  next free one is assigned. Only digests and a salted commitment to the holder's identifier
  go on chain; the holder is bound to a key.
- `change`, `renew`, `suspend`, `resume`, `revoke`, `cancel` `{id, reason, ...}`:
  an `issuer` of the issuing organisation, along the lifecycle in model.TRANSITIONS
  (`change` and `renew` may name the `version` they make: `conflict` if it is not next).
- `use {auth, sig}`: a relying party's member presents the holder's signed
  authorisation; every use is recorded (who, which version, service item, when).

State (under `licence/`)
- `l/<id>` -> the licence record; `v/<id>/<version: 4 bytes>` -> that version's
  digests and validity; `h/<id>/<n: 4 bytes>` -> the n-th lifecycle event;
- `seq/<type>/<org>` -> a sequence number such that it and every one below it are taken
  (the next free one is the first above it with no licence);
- `u/<org>/<id>/<height: 8 bytes><tx id>` -> a use (restricted: `uses`);
- `once/<authorisation hash>` -> a one-time authorisation that has been used;
- `s/<org>/<type>/<operation>/<day: 4 bytes>` -> a count, for the regulator's audit (`stats`);
- `idx` -> the number of licences issued: each licence's `index` in the status lists;
- `b/<purpose>/<chunk: 4 bytes>` -> 1,024 bytes of the Bitstring Status List for
  `revocation` or `suspension` (model.status_bits), kept in step with every transition.
"""

from __future__ import annotations

import json
from typing import Any

from govchain.contracts.licence.model import (
    ACTIVE,
    DAY_MS,
    DIGEST_SIZE,
    REGISTRY_KIND,
    STATUS_CHUNK_BYTES,
    STATUS_LIST_MIN_BITS,
    STATUS_PURPOSES,
    TRANSITIONS,
    LicenceType,
    authorisation_signing_input,
    check_authorisation,
    check_licence_id,
    is_public_key,
    licence_id,
    next_status,
    parse_type,
    public_status,
    set_bit,
    status_bits,
)
from govchain.crypto import Suite
from govchain.crypto.x509 import ROLES
from govchain.ledger import errors
from govchain.ledger.contracts import Context, Contract, PrivateReader, RestrictedQuery
from govchain.ledger.membership import AUDITOR, Policy, ReadPolicy
from govchain.state import ContractState, ReadView

NAME = "licence"
MAX_REASON = 256

# Reason codes of this contract (besides the shared ones in ledger/errors.py).
NOT_A_CONSORTIUM = "not_a_consortium"
UNKNOWN_TYPE = "unknown_licence_type"
TYPE_INVALID = "licence_type_invalid"
ISSUER_NOT_ALLOWED = "issuer_not_allowed"
TRANSITION_FORBIDDEN = "transition_forbidden"
BAD_AUTHORISATION = "bad_authorisation"
AUTH_EXPIRED = "authorisation_expired"
AUTH_NOT_YET_VALID = "authorisation_not_yet_valid"
AUTH_REPLAYED = "authorisation_replayed"
OUT_OF_SCOPE = "out_of_scope"
LICENCE_NOT_VALID = "licence_not_valid"
SEQUENCE_TAKEN = "sequence_taken"

MAX_SEQUENCE = 10**12 - 1


# --- helpers --------------------------------------------------------------------------


def record_key(licence: str) -> bytes:
    """The full state key of a licence's record (provable: status proofs prove its value)."""
    return NAME.encode() + b"/l/" + licence.encode()


def _u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def _org(ctx: Context) -> str:
    if ctx.member is None:
        ctx.fail(NOT_A_CONSORTIUM, "e-licences need a consortium chain (organisations and members)")
    return ctx.member.org


def _type(ctx: Context, code: Any) -> LicenceType:
    if type(code) is not str:
        ctx.fail(errors.INVALID_ARGS, "'type' must be a licence type code")
    doc = ctx.registered(REGISTRY_KIND, code)
    if doc is None:
        ctx.fail(UNKNOWN_TYPE, f"no licence type '{code}' is registered (register one through governance)")
    try:
        return parse_type(code, doc)
    except ValueError as exc:
        ctx.fail(TYPE_INVALID, f"licence type '{code}' is not usable: {exc}")


def _digest(ctx: Context, args: dict[str, Any], name: str) -> bytes:
    value = args.get(name)
    if type(value) is not bytes or len(value) != DIGEST_SIZE:
        ctx.fail(errors.INVALID_ARGS, f"'{name}' must be a {DIGEST_SIZE}-byte digest")
    return value


def _validity(ctx: Context, kind: LicenceType, valid_from: Any, valid_until: Any) -> None:
    if type(valid_from) is not int or (valid_until is not None and type(valid_until) is not int):
        ctx.fail(errors.INVALID_ARGS, "'valid_from' is a time in ms; 'valid_until' a time in ms or null")
    if valid_until is not None and valid_until <= max(valid_from, ctx.time):
        ctx.fail(errors.INVALID_ARGS, "'valid_until' must be later than 'valid_from' and than now")
    if kind.validity_days is not None:
        longest = kind.validity_days * DAY_MS
        if valid_until is None or valid_until - max(valid_from, ctx.time) > longest:
            ctx.fail(
                errors.INVALID_ARGS,
                f"a {kind.code} licence is valid for at most {kind.validity_days} days",
            )


def _load(ctx: Context, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    try:
        lid = check_licence_id(args.get("id"))
    except ValueError as exc:
        ctx.fail(errors.INVALID_ARGS, str(exc))
    record = ctx.state.get(b"l/" + lid.encode())
    if record is None:
        ctx.fail(errors.NOT_FOUND, f"no licence {lid}")
    return lid, record


def _next_free(view: ReadView | ContractState, type_code: str, org: str) -> int:
    """The first sequence above the stored mark with no licence (issuer-chosen ones are skipped)."""
    sequence = (view.get(_seq_key(type_code, org)) or 0) + 1
    while view.get(b"l/" + licence_id(type_code, org, sequence).encode()) is not None:
        sequence += 1
    return sequence


def _seq_key(type_code: str, org: str) -> bytes:
    return b"seq/" + type_code.encode() + b"/" + org.encode()


def _sequence(ctx: Context, kind: LicenceType, org: str, args: dict[str, Any]) -> int:
    """The issuer's chosen sequence if it is free (`sequence_taken` otherwise), else the next free one.
    The mark moves up only while every sequence below it stays taken."""
    mark = ctx.state.get(_seq_key(kind.code, org)) or 0
    chosen = args.get("sequence")
    if "sequence" not in args:
        sequence = _next_free(ctx.state, kind.code, org)
    elif type(chosen) is not int or not 0 < chosen <= MAX_SEQUENCE:
        ctx.fail(errors.INVALID_ARGS, f"'sequence' must be a whole number 1..{MAX_SEQUENCE}")
    elif ctx.state.exists(b"l/" + licence_id(kind.code, org, chosen).encode()):
        ctx.fail(SEQUENCE_TAKEN, f"{licence_id(kind.code, org, chosen)} is already issued")
    else:
        sequence = chosen
    if sequence == mark + 1 or "sequence" not in args:
        ctx.state.put(_seq_key(kind.code, org), sequence)
    return sequence


def _count(ctx: Context, org: str, type_code: str, operation: str) -> None:
    key = b"s/%s/%s/%s/" % (org.encode(), type_code.encode(), operation.encode()) + _u32(ctx.time // DAY_MS)
    ctx.state.put(key, (ctx.state.get(key) or 0) + 1)


def _event(ctx: Context, lid: str, record: dict[str, Any], operation: str, reason: str) -> None:
    record["events"] += 1
    entry = {
        "op": operation,
        "version": record["version"],
        "status": record["status"],
        "reason": reason,
        "by": ctx.sender,
        "t": ctx.time,
        "tx": ctx.tx_id,
    }
    ctx.state.put(b"h/" + lid.encode() + b"/" + _u32(record["events"]), entry)
    _count(ctx, record["org"], record["type"], operation)
    ctx.emit(operation, id=lid, version=record["version"], status=record["status"])


def _status_bits(ctx: Context, index: int, status: str) -> None:
    """Keep the licence's bits in the on-chain Bitstring Status Lists in step with its status."""
    chunk_bits = STATUS_CHUNK_BYTES * 8
    for purpose, value in status_bits(status).items():
        key = b"b/" + purpose.encode() + b"/" + _u32(index // chunk_bits)
        chunk = ctx.state.get(key) or b""
        updated = set_bit(chunk, index % chunk_bits, value)
        if updated != (chunk or bytes(STATUS_CHUNK_BYTES)):
            ctx.state.put(key, updated)


def _version(ctx: Context, lid: str, record: dict[str, Any]) -> None:
    ctx.state.put(
        b"v/" + lid.encode() + b"/" + _u32(record["version"]),
        {
            "data": record["data"],
            "file": record["file"],
            "valid_from": record["valid_from"],
            "valid_until": record["valid_until"],
            "t": ctx.time,
        },
    )


# --- methods --------------------------------------------------------------------------

ISSUE_ARGS = {
    "type",
    "holder_commitment",
    "holder_key",
    "data_digest",
    "file_digest",
    "valid_from",
    "valid_until",
}
OPTIONAL_ISSUE_ARGS = {"sequence"}


def issue(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    org = _org(ctx)
    if not ISSUE_ARGS <= set(args) <= ISSUE_ARGS | OPTIONAL_ISSUE_ARGS:
        ctx.fail(
            errors.INVALID_ARGS,
            f"issue takes: {', '.join(sorted(ISSUE_ARGS))} (and optionally 'sequence')",
        )
    kind = _type(ctx, args["type"])
    if org not in kind.issuers:
        ctx.fail(ISSUER_NOT_ALLOWED, f"organisation {org} may not issue {kind.code} licences")
    commitment = _digest(ctx, args, "holder_commitment")
    if not is_public_key(args["holder_key"]):
        ctx.fail(errors.INVALID_ARGS, "'holder_key' must be the holder's public key")
    data, file = _digest(ctx, args, "data_digest"), _digest(ctx, args, "file_digest")
    _validity(ctx, kind, args["valid_from"], args["valid_until"])
    lid = licence_id(kind.code, org, _sequence(ctx, kind, org, args))
    index = ctx.state.get(b"idx") or 0
    ctx.state.put(b"idx", index + 1)
    record = {
        "type": kind.code,
        "org": org,
        "issuer": ctx.sender,
        "version": 1,
        "status": ACTIVE,
        "valid_from": args["valid_from"],
        "valid_until": args["valid_until"],
        "data": data,
        "file": file,
        "holder": commitment,
        "holder_key": args["holder_key"],
        "issued": ctx.time,
        "events": 0,
        "index": index,
    }
    _version(ctx, lid, record)
    _event(ctx, lid, record, "issue", "")
    ctx.state.put(b"l/" + lid.encode(), record)
    return {"id": lid, "version": 1}


def _transition(operation: str) -> Any:
    # `version`, optional: the version this operation makes, as its rendered file shows it
    # (`conflict` if another change came first, so no file ever shows the wrong version).
    extra = {
        "change": {"data_digest", "file_digest", "version"},
        "renew": {"valid_until", "data_digest", "file_digest", "version"},
    }

    def method(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
        org = _org(ctx)
        allowed = {"id", "reason"} | extra.get(operation, set())
        if set(args) - allowed or "reason" not in args:
            ctx.fail(errors.INVALID_ARGS, f"{operation} takes: {', '.join(sorted(allowed))}")
        reason = args["reason"]
        if type(reason) is not str or not 0 < len(reason.strip()) <= MAX_REASON:
            ctx.fail(errors.INVALID_ARGS, f"'reason' must say why, in 1..{MAX_REASON} characters")
        lid, record = _load(ctx, args)
        if record["org"] != org:
            ctx.fail(errors.FORBIDDEN, f"only {record['org']}, which issued {lid}, may {operation} it")
        if "version" in args and type(args["version"]) is not int:
            ctx.fail(errors.INVALID_ARGS, "'version' is the version this operation makes")
        if "version" in args and args["version"] != record["version"] + 1:
            ctx.fail(
                errors.CONFLICT,
                f"{lid} is at version {record['version']}: {operation} makes {record['version'] + 1}",
            )
        try:
            record["status"] = next_status(record["status"], operation)
        except ValueError as exc:
            ctx.fail(TRANSITION_FORBIDDEN, str(exc))
        _, _, new_version = TRANSITIONS[operation]
        if operation == "change":
            record["data"], record["file"] = (
                _digest(ctx, args, "data_digest"),
                _digest(ctx, args, "file_digest"),
            )
        elif operation == "renew":
            kind = _type(ctx, record["type"])
            _validity(ctx, kind, ctx.time, args.get("valid_until"))
            record["valid_from"], record["valid_until"] = ctx.time, args["valid_until"]
            if "data_digest" in args or "file_digest" in args:
                record["data"] = _digest(ctx, args, "data_digest")
                record["file"] = _digest(ctx, args, "file_digest")
        if new_version:
            record["version"] += 1
            _version(ctx, lid, record)
        _status_bits(ctx, record["index"], record["status"])
        _event(ctx, lid, record, operation, reason)
        ctx.state.put(b"l/" + lid.encode(), record)
        return {"id": lid, "version": record["version"], "status": record["status"]}

    method.__name__ = operation
    return method


def use(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A relying party uses a licence under the holder's authorisation; the use is recorded."""
    org = _org(ctx)
    if set(args) != {"auth", "sig"} or type(args["sig"]) is not bytes:
        ctx.fail(errors.INVALID_ARGS, "use takes 'auth' (the holder's authorisation) and 'sig'")
    try:
        auth = check_authorisation(args["auth"])
    except ValueError as exc:
        ctx.fail(BAD_AUTHORISATION, str(exc))
    lid, record = _load(ctx, {"id": auth["licence"]})
    if not ctx.suite.verify(record["holder_key"], authorisation_signing_input(auth), args["sig"]):
        ctx.fail(BAD_AUTHORISATION, "the authorisation is not signed by the licence's holder")
    if auth["chain"] != ctx.chain_id:
        ctx.fail(BAD_AUTHORISATION, "the authorisation is for another chain")
    if auth["relying_org"] != org:
        ctx.fail(OUT_OF_SCOPE, f"the authorisation is for {auth['relying_org']}, not {org}")
    if ctx.time < auth["not_before"]:
        ctx.fail(AUTH_NOT_YET_VALID, "the authorisation is not valid yet")
    if ctx.time > auth["not_after"]:
        ctx.fail(AUTH_EXPIRED, "the authorisation has expired")
    kind = _type(ctx, record["type"])
    outside = sorted(set(auth["fields"]) - kind.fields)
    if outside:
        ctx.fail(OUT_OF_SCOPE, f"a {kind.code} licence has no fields {outside}")
    auth_hash = ctx.suite.hash(authorisation_signing_input(auth))
    once_key = b"once/" + auth_hash
    if auth["one_time"] and ctx.state.exists(once_key):
        ctx.fail(AUTH_REPLAYED, "this one-time authorisation has already been used")
    status = public_status(record, ctx.time)
    if status != "valid":
        ctx.fail(LICENCE_NOT_VALID, f"licence {lid} is {status}")
    if auth["one_time"]:
        ctx.state.put(once_key, ctx.height)
    ctx.state.put(
        b"u/"
        + record["org"].encode()
        + b"/"
        + lid.encode()
        + b"/"
        + ctx.height.to_bytes(8, "big")
        + ctx.tx_id,
        {
            "id": lid,
            "version": record["version"],
            "org": org,
            "by": ctx.sender,
            "service": auth["service"],
            "fields": sorted(auth["fields"]),
            "auth": auth_hash,
            "t": ctx.time,
        },
    )
    _count(ctx, record["org"], record["type"], "use")
    ctx.emit("used", id=lid, version=record["version"], org=org, service=auth["service"])
    return {"id": lid, "version": record["version"], "fields": sorted(auth["fields"])}


# --- queries --------------------------------------------------------------------------


def status(view: ReadView, suite: Suite, args: dict[str, Any]) -> dict[str, Any]:
    """Public check (the QR code's): the status of a licence or one of its versions, and its digests."""
    lid = check_licence_id(args.get("id"))
    record = view.get(b"l/" + lid.encode())
    if record is None:
        raise LookupError(f"no licence {lid}")
    version = args.get("version")
    if version is not None and (type(version) is not int or not 1 <= version <= record["version"]):
        raise LookupError(f"licence {lid} has no version {version}")
    now = args.get("now")
    if type(now) is not int:
        raise ValueError("'now' (ms) is required")
    shown = view.get(b"v/" + lid.encode() + b"/" + _u32(version or record["version"]))
    return {
        "id": lid,
        "type": record["type"],
        "org": record["org"],
        "version": version or record["version"],
        "current_version": record["version"],
        "status": public_status(record, now, version),
        "valid_from": shown["valid_from"],
        "valid_until": shown["valid_until"],
        "data_digest": shown["data"],
        "file_digest": shown["file"],
        "issued": record["issued"],
        "issuer": record["issuer"],
        "index": record["index"],
    }


def next_sequence(view: ReadView, suite: Suite, args: dict[str, Any]) -> int:
    """The sequence `issue` would assign now to a licence of this type from this organisation."""
    type_code, org = args.get("type"), args.get("org")
    if type(type_code) is not str or type(org) is not str:
        raise ValueError("'type' is a licence type code and 'org' the issuing organisation")
    return _next_free(view, type_code, org)


def file_versions(view: ReadView, suite: Suite, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Which versions of a licence have this digest as their data or file digest (the file check)."""
    lid = check_licence_id(args.get("id"))
    digest = args.get("digest")
    if type(digest) is not bytes:
        raise ValueError("'digest' is the digest to look for")
    prefix = b"v/" + lid.encode() + b"/"
    found = []
    for key, value in view.scan(prefix, 100_000):
        kinds = [name for name in ("file", "data") if value[name] == digest]
        if kinds:
            found.append({"version": int.from_bytes(key[len(prefix) :], "big"), "as": kinds[0]})
    return found


def history(view: ReadView, suite: Suite, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Every lifecycle event of a licence, oldest first."""
    lid = check_licence_id(args.get("id"))
    prefix = b"h/" + lid.encode() + b"/"
    return [value for _, value in view.scan(prefix, 10_000)]


def uses(view: ReadView, suite: Suite, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Recorded uses of an organisation's licences (optionally one licence), newest first (restricted)."""
    org, lid, limit = args.get("org"), args.get("id"), args.get("limit", 100)
    if type(org) is not str or type(limit) is not int or not 0 < limit <= 1000:
        raise ValueError("'org' names the issuing organisation; 'limit' is 1..1000")
    prefix = b"u/" + org.encode() + b"/"
    if lid is not None:
        prefix += check_licence_id(lid).encode() + b"/"
    return [value for _, value in view.scan(prefix, limit, reverse=True)]


def status_list(view: ReadView, suite: Suite, args: dict[str, Any]) -> bytes:
    """The Bitstring Status List for `revocation` or `suspension`: at least 131,072 bits."""
    purpose = args.get("purpose")
    if purpose not in STATUS_PURPOSES:
        raise ValueError(f"'purpose' must be one of {', '.join(STATUS_PURPOSES)}")
    count = view.get(b"idx") or 0
    chunks = -(-max(STATUS_LIST_MIN_BITS, count) // (STATUS_CHUNK_BYTES * 8))  # rounded up
    stored = {int.from_bytes(k[-4:], "big"): v for k, v in view.scan(b"b/" + purpose.encode() + b"/", chunks)}
    return b"".join(stored.get(i, bytes(STATUS_CHUNK_BYTES)) for i in range(chunks))


def personal(view: ReadView, private: PrivateReader, suite: Suite, args: dict[str, Any]) -> dict[str, Any]:
    """A licence's full data, personal fields included, from the issuing node's private store
    (restricted: the issuing organisation's issuers, admins and auditors, or a regulator; recorded)."""
    lid = check_licence_id(args.get("id"))
    record = view.get(b"l/" + lid.encode())
    if record is None or record["org"] != args.get("org"):
        raise LookupError(f"no licence {lid} of organisation {args.get('org')}")
    version = args.get("version", record["version"])
    raw = private.get(f"licence/{lid}/v{version}")
    if raw is None:
        raise LookupError(
            "this node holds no data for that licence version (ask the issuing organisation's node)"
        )
    bundle = json.loads(raw)
    return {
        "licence": lid,
        "version": version,
        "fields": bundle["fields"],
        "holder_code": bundle["holder_code"],
        "holder_did": bundle["holder_did"],
    } | ({"file": bundle["file"]} if "file" in bundle else {})  # the rendered licence file, base64


def stats(view: ReadView, suite: Suite, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Operation counts per issuing organisation, licence type, operation and day (restricted)."""
    org = args.get("org")
    prefix = b"s/" + (org.encode() + b"/" if type(org) is str else b"")
    rows = []
    for key, count in view.scan(prefix, 100_000):
        org_b, type_b, op_b, day = key[2:].split(b"/", 3)
        rows.append(
            {
                "org": org_b.decode(),
                "type": type_b.decode(),
                "op": op_b.decode(),
                "day": int.from_bytes(day, "big"),
            }
            | {"count": count}
        )
    return rows


ISSUERS = Policy(roles=frozenset({"issuer"}))

CONTRACT = Contract(
    name=NAME,
    methods={"issue": issue, "use": use} | {op: _transition(op) for op in TRANSITIONS},
    queries={
        "status": status,
        "history": history,
        "status_list": status_list,
        "next_sequence": next_sequence,
        "file_versions": file_versions,
    },
    restricted={
        "uses": RestrictedQuery(
            uses, ReadPolicy(roles=frozenset(set(ROLES) - {"client", "peer"}), own_org=True)
        ),
        "personal": RestrictedQuery(
            None, ReadPolicy(roles=frozenset({"issuer", "admin", AUDITOR}), own_org=True), private=personal
        ),
        "stats": RestrictedQuery(stats, ReadPolicy(roles=frozenset({AUDITOR}))),
    },
    policies={"issue": ISSUERS} | {op: ISSUERS for op in TRANSITIONS},
    provable=(b"l/",),  # each licence's record: its status can be proven offline (status proofs)
)
