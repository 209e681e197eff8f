"""The contract interface: the narrow line between the ledger and every business module.

A contract is a name plus two tables of plain functions:
- `methods`: called by the state machine for each transaction, with a `Context`
  that exposes only what is deterministic (block height and time, the sender,
  the contract's own state). A method returns a value (recorded in the result)
  or raises `ContractError` to fail the transaction and discard its writes.
- `queries`: read-only functions over committed state, for the API.
- `restricted`: queries over restricted data, each with a `ReadPolicy`. They are
  never served directly: a reader signs an `audit.read` transaction, the state
  machine checks the policy and records the read, and only then does the node
  answer (contracts/audit).

Contracts never see ordering, the network, the wall clock or randomness.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from govchain.crypto import Suite
from govchain.ledger.blocks import ChainParams
from govchain.ledger.errors import ContractError
from govchain.ledger.governance import effective_read_policy, effective_registration
from govchain.ledger.membership import Member, Policy, RawState, ReadPolicy
from govchain.ledger.orgs import Org
from govchain.state import ContractState, ReadView

MAX_EVENTS = 64


@dataclass(slots=True)
class Context:
    """What a method may know while it executes."""

    suite: Suite
    chain_id: str
    height: int
    time: int
    tx_id: bytes
    sender: bytes
    state: ContractState
    member: Member | None = None  # the sender's membership (None on a development chain)
    params: ChainParams = field(default_factory=ChainParams)  # in force for this block
    orgs: Mapping[str, Org] = field(default_factory=dict)
    read_policies: Mapping[tuple[str, str], ReadPolicy] = field(default_factory=dict)  # (contract, query)
    catalogue: RawState | None = None  # whole-state reads, only for governance's catalogue entries
    genesis_signers: tuple[bytes, ...] = ()  # where governed signer sets start (ledger/signers.py)
    events: list[dict[str, Any]] = field(default_factory=list)

    def registered(self, kind: str, entry_id: str) -> Any:
        """A catalogue entry that governance registered (licence type, rule set), as in force now."""
        if self.catalogue is None:
            return None
        return effective_registration(self.catalogue, kind, entry_id, self.height)

    def read_policy(self, contract: str, query: str) -> ReadPolicy | None:
        """Who may run a restricted query now: governance's override if one is in force, else the
        contract's own policy; None if the chain has no such restricted query."""
        default = self.read_policies.get((contract, query))
        if default is None or self.catalogue is None:
            return default
        return effective_read_policy(self.catalogue, default, contract, query, self.height)

    def emit(self, kind: str, **attrs: Any) -> None:
        """Record an event in the transaction's result (clients and the portal read them)."""
        if len(self.events) >= MAX_EVENTS:
            self.fail("too_many_events", f"a transaction may emit at most {MAX_EVENTS} events")
        self.events.append({"type": kind, "attrs": attrs})  # canonical key order already

    def fail(self, code: str, message: str) -> NoReturn:
        raise ContractError(code, message)


Method = Callable[[Context, dict[str, Any]], Any]
Query = Callable[[ReadView, Suite, dict[str, Any]], Any]
ReceiptProof = Callable[[Suite, dict[str, Any], bytes | None], dict[str, Any]]
"""(suite, transaction body, item digest or None) -> the receipt's proof for one item the
transaction recorded; raises LookupError if the transaction did not record that item."""


class PrivateReader(Protocol):
    """The node's private store (node/private.py): data kept off chain, e.g. a licence's data."""

    def get(self, name: str) -> bytes | None: ...


PrivateQuery = Callable[[ReadView, PrivateReader, Suite, dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class RestrictedQuery:
    """A read of restricted data and who may make it.

    `query` reads chain state. A `private` query also reads the serving node's private
    store: personal data that never goes on chain, read only after the read is recorded.
    """

    query: Query | None
    policy: ReadPolicy
    private: PrivateQuery | None = None

    def __post_init__(self) -> None:
        if (self.query is None) == (self.private is None):
            raise ValueError("a restricted query reads chain state (query) or the private store (private)")


@dataclass(frozen=True, slots=True)
class Contract:
    """A name, its methods and queries, and who may call each method (ledger/membership.py).

    A method without an entry in `policies` gets the default: any member, not a regulator.
    """

    name: str
    methods: Mapping[str, Method]
    queries: Mapping[str, Query] = field(default_factory=dict)
    policies: Mapping[str, Policy] = field(default_factory=dict)
    restricted: Mapping[str, RestrictedQuery] = field(default_factory=dict)
    receipt_proof: ReceiptProof | None = None
    provable: tuple[bytes, ...] = ()  # key prefixes (in its namespace) whose values can be proven alone


class Registry:
    """The contracts a chain runs, by name. Built once at node start; identical on every peer."""

    def __init__(self, contracts: list[Contract]) -> None:
        self._contracts = {c.name: c for c in contracts}
        self.provable_prefixes: tuple[bytes, ...] = tuple(
            c.name.encode() + b"/" + prefix for c in contracts for prefix in c.provable
        )
        self.read_policies: dict[tuple[str, str], ReadPolicy] = {
            (c.name, name): r.policy for c in contracts for name, r in c.restricted.items()
        }

    def get(self, name: str) -> Contract | None:
        return self._contracts.get(name)

    def names(self) -> list[str]:
        return sorted(self._contracts)
