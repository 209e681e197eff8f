"""The membership contract: enrol a member by its certificate, revoke one, list them.

- `enroll {cert}`: a key presents the certificate its organisation's CA issued
  for it. The certificate must name an organisation of the chain, verify under
  that organisation's CA at the block's time, not be revoked, and certify the
  sender's own key (so only the key's holder can enrol it).
- `revoke {key, reason}`: an organisation's admin revokes one of its *own*
  members; the certificate's serial is remembered, so it can never be enrolled
  again, and the member's later transactions are refused (`member_revoked`).

State (under `membership/`): `m/<public key>` -> the member record
(ledger/membership.py), `r/<org>/<serial>` -> the revocation.
"""

from __future__ import annotations

from typing import Any

from govchain.crypto import PUBLIC_KEY_SIZE, Suite
from govchain.crypto.x509 import Certificate, CertificateError, verify_issued_by
from govchain.ledger import errors
from govchain.ledger.contracts import Context, Contract
from govchain.ledger.errors import MEMBER_REVOKED, UNKNOWN_ORG
from govchain.ledger.membership import (
    MEMBERSHIP,
    Member,
    Policy,
    member_key,
    revoked_key,
)
from govchain.state import ReadView

MAX_REASON = 256
MAX_CERT_BYTES = 8192


def enroll(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    if not ctx.orgs:
        ctx.fail("not_a_consortium", "a development chain has no organisations to enrol in")
    if set(args) != {"cert"} or type(args["cert"]) is not bytes or len(args["cert"]) > MAX_CERT_BYTES:
        ctx.fail(errors.INVALID_ARGS, "enroll takes exactly 'cert': the DER certificate (at most 8 KiB)")
    try:
        cert = Certificate.load(args["cert"])
    except CertificateError as exc:
        ctx.fail(errors.INVALID_ARGS, f"not a certificate: {exc}")
    if cert.public_key != ctx.sender:
        ctx.fail(errors.FORBIDDEN, "a certificate can only be enrolled by the key it certifies")
    org = ctx.orgs.get(cert.subject_org)
    if org is None:
        ctx.fail(UNKNOWN_ORG, f"no organisation '{cert.subject_org}' on this chain")
    try:
        verify_issued_by(ctx.suite, cert, org.ca_certificate(), ctx.time)
    except CertificateError as exc:
        ctx.fail(f"cert_{exc.reason}", f"certificate refused: {exc}")
    if cert.subject_role is None:
        ctx.fail(errors.INVALID_ARGS, "the certificate names no role (OU)")
    if ctx.state.exists(revoked_key(org.id, cert.serial)):
        ctx.fail(MEMBER_REVOKED, f"certificate serial {cert.serial} of {org.id} was revoked")
    if ctx.state.exists(member_key(ctx.sender)):
        ctx.fail(errors.CONFLICT, "this key is already enrolled")
    member = Member(
        key=ctx.sender,
        org=org.id,
        role=cert.subject_role,
        name=cert.subject_cn,
        serial=cert.serial,
        not_before=cert.not_before,
        not_after=cert.not_after,
        cert=cert.der,
    )
    ctx.state.put(member_key(ctx.sender), member.to_value())
    ctx.emit("enrolled", org=org.id, role=member.role, name=member.name, key=ctx.sender)
    return {"org": org.id, "role": member.role}


def revoke(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    key, reason = args.get("key"), args.get("reason", "")
    if set(args) - {"key", "reason"} or type(key) is not bytes or len(key) != PUBLIC_KEY_SIZE:
        ctx.fail(errors.INVALID_ARGS, "revoke takes 'key' (65-byte public key) and 'reason'")
    if type(reason) is not str or len(reason) > MAX_REASON:
        ctx.fail(errors.INVALID_ARGS, f"'reason' must be text of at most {MAX_REASON} characters")
    raw = ctx.state.get(member_key(key))
    if raw is None:
        ctx.fail(errors.NOT_FOUND, "no member with this key")
    target = Member.from_value(key, raw)
    assert ctx.member is not None  # the policy admits only enrolled admins
    if target.org != ctx.member.org:
        ctx.fail(errors.FORBIDDEN, f"an admin of {ctx.member.org} cannot revoke a member of {target.org}")
    if target.revoked:
        ctx.fail(errors.CONFLICT, "this member is already revoked")
    revoked = Member(**{**target.to_value(), "revoked": True}, key=key)
    ctx.state.put(member_key(key), revoked.to_value())
    ctx.state.put(revoked_key(target.org, target.serial), {"by": ctx.sender, "reason": reason, "t": ctx.time})
    ctx.emit("revoked", org=target.org, key=key, serial=target.serial, reason=reason)
    return {"org": target.org, "serial": target.serial}


def members(view: ReadView, suite: Suite, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Enrolled members (optionally of one organisation), up to 1,000."""
    org = args.get("org")
    found = []
    for key, value in view.scan(b"m/", 1000):
        member = Member.from_value(key[2:], value)
        if org is None or member.org == org:
            found.append(member.to_value() | {"key": member.key})
    return found


CONTRACT = Contract(
    name=MEMBERSHIP,
    methods={"enroll": enroll, "revoke": revoke},
    queries={"members": members},
    policies={
        "enroll": Policy(allow_non_members=True, allow_regulator=True),
        "revoke": Policy(roles=frozenset({"admin"})),
    },
)
