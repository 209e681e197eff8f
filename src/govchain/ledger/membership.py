"""Who may act: member records, method policies, and the one authorization check.

On a consortium chain (one whose genesis names organisations), a transaction
counts only if its sender is an enrolled member: the key's certificate was
issued by its organisation's CA, is within its validity at the block's time, and
has not been revoked. The method's policy then says which roles may call it.
Regulators read everything and never write business data.

The membership contract (contracts/membership) writes the records; this module
only reads them, because the state machine checks every transaction against
them, and admission runs the same check early so that refused transactions
never reach a block. A development chain (no organisations) is open: anyone
with a key may transact, and policies are not applied.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from govchain import codec
from govchain.crypto.x509 import ROLES
from govchain.ledger.errors import (
    FORBIDDEN,
    MEMBER_EXPIRED,
    MEMBER_NOT_YET_VALID,
    MEMBER_REVOKED,
    NOT_A_MEMBER,
    ORG_REMOVED,
    TxRejected,
)

MEMBERSHIP = "membership"
REGULATOR = "regulator"
AUDITOR = "auditor"
UNKNOWN_QUERY = "unknown_query"  # no restricted query of that name (audit.read, governance)


@dataclass(frozen=True, slots=True)
class Policy:
    """Who may call a method. The default: any member of any organisation, except a regulator."""

    roles: frozenset[str] | None = None  # None: every role
    allow_regulator: bool = False  # regulators never write business data unless a method says so
    allow_non_members: bool = False  # only for enrolment itself

    def __post_init__(self) -> None:
        if self.roles is not None and not self.roles <= set(ROLES):
            raise ValueError(f"unknown roles in policy: {sorted(self.roles - set(ROLES))}")


DEFAULT_POLICY = Policy()


@dataclass(frozen=True, slots=True)
class Member:
    key: bytes
    org: str
    role: str
    name: str
    serial: int
    not_before: int
    not_after: int
    revoked: bool = False
    cert: bytes = b""

    def to_value(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "role": self.role,
            "name": self.name,
            "serial": self.serial,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "revoked": self.revoked,
            "cert": self.cert,
        }

    @classmethod
    def from_value(cls, key: bytes, value: dict[str, Any]) -> Member:
        return cls(
            key,
            value["org"],
            value["role"],
            value["name"],
            value["serial"],
            value["not_before"],
            value["not_after"],
            value["revoked"],
            value["cert"],
        )


class RawState(Protocol):
    """Full-key state reads (the block overlay, or committed state)."""

    def get(self, key: bytes) -> bytes | None: ...


def member_key(public_key: bytes) -> bytes:
    """The membership contract's own key for a member record (without the namespace)."""
    return b"m/" + public_key


def revoked_key(org: str, serial: int) -> bytes:
    return b"r/" + org.encode() + b"/" + serial.to_bytes(20, "big")


_MEMBERS: dict[tuple[bytes, bytes], Member] = {}
"""Decoded member records by (key, stored bytes): the same few senders sign most transactions,
and a record's bytes fix its meaning, so a changed record simply misses."""
_MEMBERS_MAX = 4096


def load_member(state: RawState, public_key: bytes) -> Member | None:
    raw = state.get(MEMBERSHIP.encode() + b"/" + member_key(public_key))
    if raw is None:
        return None
    member = _MEMBERS.get((public_key, raw))
    if member is None:
        member = Member.from_value(public_key, codec.decode_stored(raw))
        if len(_MEMBERS) >= _MEMBERS_MAX:
            _MEMBERS.clear()
        _MEMBERS[(public_key, raw)] = member
    return member


def authorize(
    consortium: bool,
    state: RawState,
    sender: bytes,
    policy: Policy,
    time_ms: int,
    orgs: Collection[str] | None = None,
) -> Member | None:
    """The member behind `sender`, if the policy lets it call; else TxRejected with the reason.

    Deterministic: it reads only state and the block's time, so every peer agrees.
    """
    if not consortium:
        return None
    member = load_member(state, sender)
    if member is None:
        if policy.allow_non_members:
            return None
        raise TxRejected(NOT_A_MEMBER, "the sender is not an enrolled member of any organisation")
    if orgs is not None and member.org not in orgs:
        raise TxRejected(ORG_REMOVED, f"organisation {member.org} is no longer part of the consortium")
    if member.revoked:
        raise TxRejected(MEMBER_REVOKED, f"the sender's certificate (serial {member.serial}) was revoked")
    if time_ms < member.not_before:
        raise TxRejected(MEMBER_NOT_YET_VALID, "the sender's certificate is not valid yet")
    if time_ms > member.not_after:
        raise TxRejected(MEMBER_EXPIRED, "the sender's certificate has expired")
    if member.role == REGULATOR and not policy.allow_regulator:
        raise TxRejected(FORBIDDEN, "a regulator reads everything but never writes business data")
    if policy.roles is not None and member.role not in policy.roles:
        raise TxRejected(
            FORBIDDEN, f"role '{member.role}' may not call this; allowed: {sorted(policy.roles)}"
        )
    return member


def policy_of(policies: Mapping[str, Policy], method: str) -> Policy:
    return policies.get(method, DEFAULT_POLICY)


@dataclass(frozen=True, slots=True)
class ReadPolicy:
    """Who may read one kind of restricted data (a contract's restricted query).

    A regulator reads everything. Other readers need one of `roles`, and with
    `own_org` they see only their own organisation's data: the query's `org`
    argument must be theirs. Every restricted read is a signed transaction, so
    the check runs in the state machine and the read itself is on chain.
    """

    roles: frozenset[str] = frozenset()
    own_org: bool = False

    def __post_init__(self) -> None:
        if not self.roles <= set(ROLES):
            raise ValueError(f"unknown roles in read policy: {sorted(self.roles - set(ROLES))}")

    def to_value(self) -> dict[str, Any]:
        """Its on-chain form (a governance override, protocol.md): roles sorted, so one encoding."""
        return {"roles": sorted(self.roles), "own_org": self.own_org}

    @classmethod
    def from_value(cls, value: Any) -> ReadPolicy:
        """Strictly: exactly `roles` (distinct known roles, not `regulator`) and `own_org`.

        A regulator's right to read everything is the platform's audit guarantee, so
        no policy lists it (it would be a no-op) or can take it away.
        """
        if type(value) is not dict or set(value) != {"roles", "own_org"}:
            raise ValueError("a read policy is a map of exactly 'roles' (list) and 'own_org' (true/false)")
        roles, own_org = value["roles"], value["own_org"]
        if type(roles) is not list or any(type(r) is not str for r in roles) or len(set(roles)) != len(roles):
            raise ValueError("'roles' must be a list of distinct role names")
        if REGULATOR in roles:
            raise ValueError("a regulator always reads everything; it is not listed, and cannot be removed")
        if type(own_org) is not bool:
            raise ValueError("'own_org' must be true or false")
        return cls(frozenset(roles), own_org)


def authorize_read(member: Member | None, policy: ReadPolicy, args: Mapping[str, Any]) -> None:
    """Raise TxRejected unless `member` may run a restricted query with `args`.

    `member` is None only on a development chain, which is open.
    """
    if member is None or member.role == REGULATOR:
        return
    if member.role not in policy.roles:
        allowed = sorted(policy.roles | {REGULATOR})
        raise TxRejected(FORBIDDEN, f"role '{member.role}' may not read this; allowed: {allowed}")
    if policy.own_org and args.get("org") != member.org:
        raise TxRejected(FORBIDDEN, f"a member of {member.org} may read only its own organisation's data")
