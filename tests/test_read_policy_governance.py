"""Governed read policies: the committee changes who may run a restricted query, from a set height.

Everything runs through the real state transition (tests/harness.py): enrolment,
proposals, votes and `audit.read` are signed transactions in blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govchain import codec
from govchain.contracts import default_registry
from govchain.crypto import KeyPair, get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import ROLES, Certificate, issue
from govchain.ledger.blocks import genesis_header
from govchain.ledger.governance import effective_read_policy, read_policies_in_force, read_policy_key
from govchain.ledger.membership import ReadPolicy
from govchain.ledger.orgs import genesis_orgs
from govchain.ledger.state_transition import ChainContext, Parent
from govchain.ledger.transactions import SignedTx, make_tx
from govchain.merkle import root_from_leaf_hashes
from govchain.node.consortium import init_consortium
from tests.conftest import Env, code
from tests.harness import MemoryState, run_block
from tests.test_governance import decide, enrol_admins

ORGS = ("org1", "org2", "org3")
READ_ROLES = sorted(set(ROLES) - {"regulator"})


@dataclass
class Chain:
    """A 3-organisation consortium in memory, with its head block."""

    ctx: ChainContext
    out: Path
    parent: Parent
    state: MemoryState

    def tx(self, keys: KeyPair, contract: str, method: str, args: dict[str, Any]) -> SignedTx:
        expiry = self.parent.header.time + 3_600_000
        return make_tx(self.ctx.suite, keys, self.ctx.genesis.chain_id, contract, method, args, expiry)

    def block(self, *txs: SignedTx) -> list[str]:
        self.parent, codes = run_block(self.ctx, self.parent, self.state, list(txs))
        return codes

    @property
    def height(self) -> int:
        return self.parent.header.height

    def member(self, org: str, role: str) -> KeyPair:
        """Issue a certificate with the org's CA and enrol it in a block of its own."""
        suite = self.ctx.suite
        ca = Certificate.load((self.out / org / "ca.pem").read_bytes())
        ca_key = KeyFile.load(self.out / org / "ca-key.json").keys.private
        keys = suite.generate_keypair()
        now = self.ctx.genesis.time
        cert = issue(suite, ca, ca_key, keys.public, org, role, f"{org} {role}", now - 1000, now + 10**10)
        assert self.block(self.tx(keys, "membership", "enroll", {"cert": cert.der})) == ["ok"]
        return keys

    def read(self, keys: KeyPair, contract: str, query: str, args: dict[str, Any]) -> SignedTx:
        body = {"contract": contract, "query": query, "args": args, "purpose": "inspection"}
        return self.tx(keys, "audit", "read", body)

    def access_log(self) -> list[dict[str, Any]]:
        return [codec.decode(v) for k, v in sorted(self.state.state.items()) if k.startswith(b"audit/a/")]

    def in_force(self, contract: str, query: str, height: int) -> ReadPolicy:
        default = self.ctx.registry.read_policies[(contract, query)]
        return effective_read_policy(self.state, default, contract, query, height)


_GENESIS: dict[str, Any] = {}


def new_chain(tmp: Path) -> Chain:
    """A fresh chain (one genesis per test run, new state each time), its three admins enrolled."""
    if not _GENESIS:
        out = tmp / "cons"
        _GENESIS["v"] = (out, init_consortium(out, 3, "intl"))
    out, genesis = _GENESIS["v"]
    suite = get_suite("intl")
    ctx = ChainContext(suite, genesis, default_registry(), {o.id: o for o in genesis_orgs(genesis)})
    parent = Parent(genesis_header(suite, genesis, root_from_leaf_hashes(suite.hash, [])), ())
    chain = Chain(ctx, out, parent, MemoryState())
    return chain


def admins(chain: Chain) -> dict[str, KeyPair]:
    found = {}
    for org in ORGS:
        keys = KeyFile.load(chain.out / org / "admin-key.json").keys
        cert = Certificate.load((chain.out / org / "admin.pem").read_bytes())
        assert chain.block(chain.tx(keys, "membership", "enroll", {"cert": cert.der})) == ["ok"]
        found[org] = keys
    return found


def propose(chain: Chain, keys: KeyPair, args: dict[str, Any]) -> SignedTx:
    return chain.tx(keys, "governance", "propose", {"action": "set_read_policy", "args": args})


def vote(chain: Chain, keys: KeyPair, proposal: bytes) -> SignedTx:
    return chain.tx(keys, "governance", "vote", {"proposal": proposal, "approve": True})


def decide_in_blocks(chain: Chain, admin: dict[str, KeyPair], args: dict[str, Any]) -> int:
    """org1 proposes, org2 votes (2 of 3: still open), org3's vote executes it; the execution height."""
    proposal = propose(chain, admin["org1"], args)
    assert chain.block(proposal) == ["ok"]
    assert chain.block(vote(chain, admin["org2"], proposal.id)) == ["ok"]
    assert chain.block(vote(chain, admin["org3"], proposal.id)) == ["ok"]
    return chain.height


@pytest.fixture
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return new_chain(tmp_path_factory.getbasetemp())


def test_a_governed_policy_opens_a_query_from_its_height_and_a_reset_closes_it(chain: Chain) -> None:
    admin = admins(chain)
    issuer = chain.member("org2", "issuer")
    regulator = chain.member("org3", "regulator")
    assert chain.block(chain.read(issuer, "audit", "access_log", {})) == ["forbidden"]
    assert chain.access_log() == []

    widened = {
        "contract": "audit",
        "query": "access_log",
        "policy": {"roles": ["auditor", "issuer"], "own_org": False},
    }
    proposal = propose(chain, admin["org1"], widened)
    assert chain.block(proposal) == ["ok"]
    assert chain.block(vote(chain, admin["org2"], proposal.id)) == ["ok"]
    # The vote that executes it and a read in the same block: the change is in force only from the next block.
    executing = vote(chain, admin["org3"], proposal.id)
    assert chain.block(executing, chain.read(issuer, "audit", "access_log", {})) == ["ok", "forbidden"]
    executed_at = chain.height
    assert chain.block(chain.read(issuer, "audit", "access_log", {})) == ["ok"]
    (record,) = chain.access_log()
    assert (record["reader"], record["org"], record["role"], record["query"]) == (
        issuer.public,
        "org2",
        "issuer",
        "access_log",
    )
    assert chain.in_force("audit", "access_log", executed_at) == ReadPolicy(frozenset({"auditor"}))
    assert chain.in_force("audit", "access_log", executed_at + 1) == ReadPolicy(
        frozenset({"auditor", "issuer"})
    )

    # A reset restores the contract's own policy; a regulator read throughout.
    reset_at = decide_in_blocks(chain, admin, {"contract": "audit", "query": "access_log", "policy": None})
    assert chain.block(chain.read(issuer, "audit", "access_log", {})) == ["forbidden"]
    assert chain.block(chain.read(regulator, "audit", "access_log", {})) == ["ok"]
    assert len(chain.access_log()) == 2
    assert chain.in_force("audit", "access_log", reset_at) == ReadPolicy(frozenset({"auditor", "issuer"}))
    assert chain.in_force("audit", "access_log", reset_at + 1) == ReadPolicy(frozenset({"auditor"}))


def test_an_empty_role_list_leaves_only_regulators(chain: Chain) -> None:
    admin = admins(chain)
    issuer = chain.member("org2", "issuer")
    regulator = chain.member("org3", "regulator")
    assert chain.block(chain.read(issuer, "notary", "by_org", {"org": "org2"})) == ["ok"]
    decide_in_blocks(
        chain, admin, {"contract": "notary", "query": "by_org", "policy": {"roles": [], "own_org": True}}
    )
    assert chain.block(chain.read(issuer, "notary", "by_org", {"org": "org2"})) == ["forbidden"]
    assert chain.block(chain.read(regulator, "notary", "by_org", {"org": "org1"})) == ["ok"]


MALFORMED = [
    ({"contract": "nope", "query": "by_org", "policy": None}, "unknown_query"),
    ({"contract": "notary", "query": "lookup", "policy": None}, "unknown_query"),  # public, not restricted
    ({"contract": "notary", "query": "by_org/x", "policy": None}, "unknown_query"),
    ({"contract": "notary", "query": "by_org"}, "invalid_args"),
    ({"contract": "notary", "query": "by_org", "policy": None, "extra": 1}, "invalid_args"),
    ({"contract": 1, "query": "by_org", "policy": None}, "invalid_args"),
    (
        {"contract": "notary", "query": "by_org", "policy": {"roles": ["regulator"], "own_org": False}},
        "invalid_read_policy",
    ),
    (
        {"contract": "notary", "query": "by_org", "policy": {"roles": ["mayor"], "own_org": False}},
        "invalid_read_policy",
    ),
    (
        {"contract": "notary", "query": "by_org", "policy": {"roles": ["admin", "admin"], "own_org": False}},
        "invalid_read_policy",
    ),
    (
        {"contract": "notary", "query": "by_org", "policy": {"roles": "admin", "own_org": False}},
        "invalid_read_policy",
    ),
    (
        {"contract": "notary", "query": "by_org", "policy": {"roles": [1], "own_org": False}},
        "invalid_read_policy",
    ),
    ({"contract": "notary", "query": "by_org", "policy": {"roles": [], "own_org": 1}}, "invalid_read_policy"),
    ({"contract": "notary", "query": "by_org", "policy": {"roles": []}}, "invalid_read_policy"),
    (
        {
            "contract": "notary",
            "query": "by_org",
            "policy": {"roles": [], "own_org": False, "allow_regulator": False},
        },
        "invalid_read_policy",
    ),
    ({"contract": "notary", "query": "by_org", "policy": ["admin"]}, "invalid_read_policy"),
]


def test_malformed_proposals_are_refused_and_change_nothing(chain: Chain) -> None:
    admin = admins(chain)
    for args, expected in MALFORMED:
        before = dict(chain.state.state)
        assert chain.block(propose(chain, admin["org1"], args)) == [expected], args
        assert chain.state.state == before, args  # no proposal stored, nothing else either
    assert not any(k.startswith(b"governance/") for k in chain.state.state)


@pytest.mark.parametrize("role", ["issuer", "auditor", "regulator", "client", "operator"])
def test_only_committee_members_propose(chain: Chain, role: str) -> None:
    keys = chain.member("org2", role)
    args = {"contract": "audit", "query": "access_log", "policy": {"roles": [role], "own_org": False}}
    before = dict(chain.state.state)
    assert chain.block(propose(chain, keys, args)) == ["forbidden"]
    assert chain.state.state == before


def test_one_organisation_alone_cannot_change_a_read_policy(chain: Chain) -> None:
    admin = admins(chain)
    args = {
        "contract": "audit",
        "query": "access_log",
        "policy": {"roles": list(READ_ROLES), "own_org": False},
    }
    proposal = propose(chain, admin["org1"], args)
    assert chain.block(proposal) == ["ok"]
    assert chain.block(chain.tx(admin["org1"], "governance", "execute", {"proposal": proposal.id})) == [
        "below_threshold"
    ]
    assert chain.block(vote(chain, admin["org1"], proposal.id)) == ["duplicate_vote"]
    assert chain.state.get(b"governance/" + read_policy_key("audit", "access_log")) is None


# --- property: the state machine applies exactly the governed policy ----------------------------

POLICIES = st.builds(
    lambda roles, own_org: {"roles": roles, "own_org": own_org},
    st.lists(st.sampled_from(READ_ROLES), unique=True),
    st.booleans(),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=POLICIES, target=st.sampled_from(ORGS))
def test_reads_follow_the_governed_policy(
    tmp_path_factory: pytest.TempPathFactory, policy: dict[str, Any], target: str
) -> None:
    chain = new_chain(tmp_path_factory.getbasetemp())
    admin = admins(chain)
    readers = {role: chain.member("org2", role) for role in ("issuer", "auditor", "operator", "regulator")}
    decide_in_blocks(chain, admin, {"contract": "notary", "query": "by_org", "policy": policy})
    reads = [chain.read(keys, "notary", "by_org", {"org": target}) for keys in readers.values()]
    codes = chain.block(*reads)
    for (role, _), got in zip(readers.items(), codes, strict=True):
        allowed = role == "regulator" or (
            role in policy["roles"] and (not policy["own_org"] or target == "org2")
        )
        assert got == ("ok" if allowed else "forbidden"), (role, policy, target)
    assert len(chain.access_log()) == codes.count("ok")


def test_the_table_in_force_joins_defaults_and_overrides() -> None:
    defaults = {("a", "q"): ReadPolicy(frozenset({"auditor"})), ("b", "r"): ReadPolicy(frozenset(), True)}
    governed = {("a", "q"): {"from": 10, "value": {"roles": ["issuer"], "own_org": True}, "previous": None}}
    before, after = (
        read_policies_in_force(defaults, governed, 9),
        read_policies_in_force(defaults, governed, 10),
    )
    assert [p["in_force"] for p in before] == [
        {"roles": ["auditor"], "own_org": False},
        {"roles": [], "own_org": True},
    ]
    assert after[0]["in_force"] == {"roles": ["issuer"], "own_org": True}
    assert after[0]["default"] == {"roles": ["auditor"], "own_org": False}
    assert after[0]["governed"] == governed[("a", "q")] and after[1]["governed"] is None


# --- through the node, its API and SDK route ------------------------------------------------------


def test_the_api_shows_read_policies_in_force(env: Env) -> None:
    admin = enrol_admins(env)
    keys, cert = env.new_member("org2", "issuer", "issuer")
    assert code(env.enroll(keys, cert)) == "ok"
    listed = env.client.get("/v1/governance/read-policies").json()["read_policies"]
    log = next(p for p in listed if (p["contract"], p["query"]) == ("audit", "access_log"))
    assert log == {
        "contract": "audit",
        "query": "access_log",
        "in_force": {"roles": ["auditor"], "own_org": False},
        "default": {"roles": ["auditor"], "own_org": False},
        "governed": None,
    }
    policy = {"roles": ["auditor", "issuer"], "own_org": False}
    state = decide(
        env, admin, "set_read_policy", {"contract": "audit", "query": "access_log", "policy": policy}
    )
    listed = env.client.get("/v1/governance/read-policies").json()["read_policies"]
    log = next(p for p in listed if (p["contract"], p["query"]) == ("audit", "access_log"))
    assert log["in_force"] == policy and log["default"] == {"roles": ["auditor"], "own_org": False}
    assert log["governed"] == {"from": state["effective_height"], "value": policy, "previous": None}


@given(policy=POLICIES)
def test_a_read_policy_value_round_trips_canonically(policy: dict[str, Any]) -> None:
    parsed = ReadPolicy.from_value(policy)
    assert parsed.to_value() == {"roles": sorted(policy["roles"]), "own_org": policy["own_org"]}
    assert ReadPolicy.from_value(parsed.to_value()) == parsed
    shuffled = {"roles": list(reversed(policy["roles"])), "own_org": policy["own_org"]}
    assert codec.encode(ReadPolicy.from_value(shuffled).to_value()) == codec.encode(parsed.to_value())
