"""What governance has decided, as the state machine reads it.

The governance contract (contracts/governance) writes decisions; every one of
them takes effect at a stated block height, so each peer switches at the same
block. This module only reads them:

- chain parameters (`params`), replacing the genesis values from a height on;
- method policies (`policy/<contract>/<method>`), replacing a contract's own;
- read policies (`read_policy/<contract>/<query>`) of restricted queries, replacing
  a contract's own, or (value null) restoring it; a regulator always reads;
- vote thresholds (`threshold/<action>`), default more than 2/3 of organisations;
- catalogue entries (`registry/<kind>/<id>`): licence types and credit rule sets.

Each record keeps the value before the change, so a height below `from` still
reads the old one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from govchain import codec
from govchain.ledger.blocks import ChainParams, Genesis
from govchain.ledger.membership import Policy, ReadPolicy
from govchain.ledger.orgs import Org

GOVERNANCE = "governance"
DEFAULT_THRESHOLD = ">2/3"
_FRACTION = re.compile(r">([1-9][0-9]*)/([1-9][0-9]*)")


class RawState(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


def _read(state: RawState, key: bytes) -> Any:
    raw = state.get(GOVERNANCE.encode() + b"/" + key)
    return None if raw is None else codec.decode_stored(raw)


def versioned(record: dict[str, Any] | None, height: int) -> Any:
    """The value in force at `height` of a record {"from", "value", "previous"}."""
    if record is None:
        return None
    return record["value"] if height >= record["from"] else record["previous"]


def effective_params(genesis: Genesis, state: RawState, height: int) -> ChainParams:
    value = versioned(_read(state, b"params"), height)
    return genesis.params if value is None else ChainParams.from_value(value)


def policy_key(contract: str, method: str) -> bytes:
    return b"policy/" + contract.encode() + b"/" + method.encode()


def policy_to_value(policy: Policy) -> dict[str, Any]:
    return {
        "roles": None if policy.roles is None else sorted(policy.roles),
        "allow_regulator": policy.allow_regulator,
        "allow_non_members": policy.allow_non_members,
    }


def policy_from_value(value: dict[str, Any]) -> Policy:
    roles = value["roles"]
    return Policy(
        roles=None if roles is None else frozenset(roles),
        allow_regulator=value["allow_regulator"],
        allow_non_members=value["allow_non_members"],
    )


def effective_policy(state: RawState, contract: str, method: str, height: int) -> Policy | None:
    """A governance override of a method's policy, or None to use the contract's own."""
    value = versioned(_read(state, policy_key(contract, method)), height)
    return None if value is None else policy_from_value(value)


def check_threshold(spec: str) -> str:
    """Validate a threshold: ALL, MAJORITY, N (organisations), or >a/b (a fraction below 1)."""
    if spec in ("ALL", "MAJORITY") or (spec.isdigit() and int(spec) > 0):
        return spec
    match = _FRACTION.fullmatch(spec)
    if match and int(match[1]) < int(match[2]):
        return spec
    raise ValueError(f"threshold must be ALL, MAJORITY, a number of organisations, or >a/b; got {spec!r}")


def threshold_met(spec: str, approvals: int, organisations: int) -> bool:
    if spec == "ALL":
        return approvals >= organisations
    if spec == "MAJORITY":
        return approvals * 2 > organisations
    if spec.isdigit():
        return approvals >= min(int(spec), organisations)
    match = _FRACTION.fullmatch(spec)
    assert match is not None
    return approvals * int(match[2]) > organisations * int(match[1])


def effective_orgs(genesis_orgs: list[Org], state: RawState, height: int) -> dict[str, Org]:
    """The organisations in force at `height`: the genesis list, as governance has changed it."""
    value = versioned(_read(state, b"orgs"), height)
    orgs = genesis_orgs if value is None else [Org.from_value(item) for item in value]
    return {org.id: org for org in orgs}


def registry_key(kind: str, entry_id: str) -> bytes:
    return b"registry/" + kind.encode() + b"/" + entry_id.encode()


def effective_registration(state: RawState, kind: str, entry_id: str, height: int) -> Any:
    """A catalogue entry (e.g. a licence type) in force at `height`, or None if none is."""
    return versioned(_read(state, registry_key(kind, entry_id)), height)


def read_policy_key(contract: str, query: str) -> bytes:
    return b"read_policy/" + contract.encode() + b"/" + query.encode()


def effective_read_policy(
    state: RawState, default: ReadPolicy, contract: str, query: str, height: int
) -> ReadPolicy:
    """The read policy in force at `height`: governance's override if any, else `default` (the
    contract's own). An override set to null restores the default."""
    value = versioned(_read(state, read_policy_key(contract, query)), height)
    return default if value is None else ReadPolicy.from_value(value)


def read_policies_in_force(
    defaults: Mapping[tuple[str, str], ReadPolicy],
    governed: Mapping[tuple[str, str], dict[str, Any]],
    height: int,
) -> list[dict[str, Any]]:
    """Every restricted query with its policy in force at `height`, its contract's default, and
    governance's record for it (`from`, `value`, `previous`) if there is one."""
    found = []
    for (contract, query), default in sorted(defaults.items()):
        record = governed.get((contract, query))
        value = versioned(record, height)
        in_force = default if value is None else ReadPolicy.from_value(value)
        found.append(
            {
                "contract": contract,
                "query": query,
                "in_force": in_force.to_value(),
                "default": default.to_value(),
                "governed": record,
            }
        )
    return found
