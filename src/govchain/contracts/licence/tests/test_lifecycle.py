"""The licence lifecycle through the real state transition, in memory: a property test and misuse codes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govchain import codec, smt
from govchain.contracts import default_registry
from govchain.contracts.licence.model import (
    DAY_MS,
    TRANSITIONS,
    check_licence_id,
    get_bit,
    holder_commitment,
    sign_authorisation,
)
from govchain.contracts.licence.samples import BUSINESS_LICENCE
from govchain.crypto import KeyPair, get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate, issue
from govchain.ledger.blocks import genesis_header
from govchain.ledger.governance import registry_key
from govchain.ledger.orgs import genesis_orgs
from govchain.ledger.state_transition import ChainContext, Parent
from govchain.ledger.transactions import make_tx
from govchain.merkle import root_from_leaf_hashes
from govchain.node.consortium import init_consortium
from govchain.state import SMT_NODES
from tests.harness import MemoryState, run_block


@dataclass
class World:
    chain: ChainContext
    parent: Parent
    state: MemoryState
    members: dict[str, KeyPair]
    holder: KeyPair

    def send(self, who: str, method: str, args: dict[str, Any], step_ms: int = 1000) -> str:
        keys = self.members[who]
        expiry = self.parent.header.time + step_ms + 3600_000
        tx = make_tx(self.chain.suite, keys, self.chain.genesis.chain_id, "licence", method, args, expiry)
        self.parent, (result,) = run_block(self.chain, self.parent, self.state, [tx], step_ms)
        return result

    @property
    def now(self) -> int:
        return self.parent.header.time

    def licence_state(self) -> dict[bytes, bytes]:
        return {k: v for k, v in self.state.state.items() if k.startswith(b"licence/")}

    def record(self, lid: str) -> dict[str, Any]:
        value: dict[str, Any] = codec.decode(self.state.state[b"licence/l/" + lid.encode()])
        return value

    def issue_args(self, **over: Any) -> dict[str, Any]:
        suite = self.chain.suite
        return {
            "type": "BL",
            "holder_commitment": holder_commitment(suite, secrets.token_bytes(16), "91310000MA1FL8XQ30"),
            "holder_key": self.holder.public,
            "data_digest": suite.hash(b"data"),
            "file_digest": suite.hash(b"file"),
            "valid_from": self.now,
            "valid_until": self.now + 365 * DAY_MS,
        } | over

    def issue(self) -> str:
        before = len(self.licence_state())
        assert self.send("issuer2", "issue", self.issue_args()) == "ok"
        assert len(self.licence_state()) > before
        ids = [k[len(b"licence/l/") :].decode() for k in self.state.state if k.startswith(b"licence/l/")]
        return max(ids)

    def auth(self, lid: str, **over: Any) -> dict[str, Any]:
        auth = {
            "chain": self.chain.genesis.chain_id,
            "licence": lid,
            "relying_org": "org1",
            "service": "开办企业",
            "fields": ["name", "scope"],
            "not_before": self.now,
            "not_after": self.now + 3600_000,
            "one_time": True,
            "nonce": secrets.token_bytes(16),
        } | over
        return {"auth": auth, "sig": sign_authorisation(self.chain.suite, self.holder.private, auth)}


_BASE: dict[str, Any] = {}


def _base(tmp: Path) -> tuple[ChainContext, Parent, dict[str, tuple[KeyPair, Certificate]]]:
    """One consortium and its member certificates, made once (key generation is the slow part)."""
    if not _BASE:
        out = tmp / "cons"
        genesis = init_consortium(out, 3, "intl")
        suite = get_suite("intl")
        chain = ChainContext(suite, genesis, default_registry(), {o.id: o for o in genesis_orgs(genesis)})
        parent = Parent(genesis_header(suite, genesis, root_from_leaf_hashes(suite.hash, [])), ())
        members = {}
        for name, org, role in [
            ("issuer2", "org2", "issuer"),
            ("issuer3", "org3", "issuer"),
            ("client2", "org2", "client"),
            ("rp1", "org1", "operator"),
            ("rp3", "org3", "operator"),
            ("regulator", "org3", "regulator"),
        ]:
            ca = Certificate.load((out / org / "ca.pem").read_bytes())
            ca_key = KeyFile.load(out / org / "ca-key.json").keys.private
            keys = suite.generate_keypair()
            t = genesis.time
            members[name] = (
                keys,
                issue(suite, ca, ca_key, keys.public, org, role, name, t - 1000, t + 10**12),
            )
        _BASE["v"] = (chain, parent, members)
    base: tuple[ChainContext, Parent, dict[str, tuple[KeyPair, Certificate]]] = _BASE["v"]
    return base


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _world(tmp_path_factory)


def _world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A fresh chain state: members enrolled and the BL type registered (as governance would)."""
    chain, parent, members = _base(tmp_path_factory.mktemp("licence"))
    state = MemoryState()
    state.state[b"governance/" + registry_key("licence_type", "BL")] = codec.encode(
        {"from": 0, "value": BUSINESS_LICENCE, "previous": None}
    )
    suite = chain.suite
    expiry = parent.header.time + 3600_000
    enrol = [
        make_tx(suite, keys, chain.genesis.chain_id, "membership", "enroll", {"cert": cert.der}, expiry)
        for keys, cert in members.values()
    ]
    parent, codes = run_block(chain, parent, state, enrol)
    assert set(codes) == {"ok"}
    return World(chain, parent, state, {k: v[0] for k, v in members.items()}, suite.generate_keypair())


def test_issue_gives_a_checked_id_and_keeps_no_identifier(world: World) -> None:
    lid = world.issue()
    assert check_licence_id(lid) == lid and lid.startswith("BL-org2-00000001-")
    second = world.issue()
    assert second.startswith("BL-org2-00000002-")
    raw = b"".join(world.licence_state().values())
    assert b"91310000MA1FL8XQ30" not in raw  # only the salted commitment is on chain
    assert world.record(lid)["status"] == "active" and world.record(lid)["version"] == 1


def test_misuse_is_refused_with_its_reason_and_changes_nothing(world: World) -> None:
    lid = world.issue()
    w = world
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("issuer3", "issue", w.issue_args(), "issuer_not_allowed"),  # wrong org for the type
        ("issuer2", "issue", w.issue_args(type="XX"), "unknown_licence_type"),
        ("client2", "issue", w.issue_args(), "forbidden"),  # wrong role
        ("regulator", "issue", w.issue_args(), "forbidden"),  # a regulator never writes
        ("regulator", "suspend", {"id": lid, "reason": "x"}, "forbidden"),
        ("issuer2", "issue", w.issue_args(valid_until=w.now + 4000 * DAY_MS), "invalid_args"),
        ("issuer2", "issue", w.issue_args(holder_key=b"short"), "invalid_args"),
        ("issuer2", "resume", {"id": lid, "reason": "not suspended"}, "transition_forbidden"),
        ("issuer3", "suspend", {"id": lid, "reason": "not ours"}, "forbidden"),  # another org's licence
        ("issuer2", "suspend", {"id": lid}, "invalid_args"),  # no reason
        ("issuer2", "suspend", {"id": lid[:-1] + "0", "reason": "typo"}, "invalid_args"),
        ("rp1", "use", w.auth(lid, not_after=w.now - 1, not_before=w.now - 10), "authorisation_expired"),
        (
            "rp1",
            "use",
            w.auth(lid, not_before=w.now + 3600_000, not_after=w.now + 7200_000),
            "authorisation_not_yet_valid",
        ),
        ("rp3", "use", w.auth(lid), "out_of_scope"),  # the authorisation names org1
        ("rp1", "use", w.auth(lid, fields=["name", "salary"]), "out_of_scope"),
        ("rp1", "use", w.auth(lid, chain="other-chain"), "bad_authorisation"),
        ("rp1", "use", w.auth(lid) | {"sig": b"\x00" * 64}, "bad_authorisation"),
        ("regulator", "use", w.auth(lid, relying_org="org3"), "forbidden"),
    ]
    for who, method, args, expected in cases:
        before = world.licence_state()
        assert (who, method, world.send(who, method, args)) == (who, method, expected)
        assert world.licence_state() == before, f"{who} {method} -> {expected} changed state"
    # A one-time authorisation works once.
    once = world.auth(lid)
    assert world.send("rp1", "use", once) == "ok"
    before = world.licence_state()
    assert world.send("rp1", "use", once) == "authorisation_replayed"
    assert world.licence_state() == before
    # A multi-use one works again.
    multi = world.auth(lid, one_time=False)
    assert [world.send("rp1", "use", multi) for _ in range(2)] == ["ok", "ok"]


def test_suspended_revoked_and_expired_licences_cannot_be_used(world: World) -> None:
    lid = world.issue()
    assert world.send("issuer2", "suspend", {"id": lid, "reason": "违规经营调查"}) == "ok"
    assert world.send("rp1", "use", world.auth(lid)) == "licence_not_valid"
    assert world.send("issuer2", "resume", {"id": lid, "reason": "调查结束"}) == "ok"
    assert world.send("rp1", "use", world.auth(lid)) == "ok"
    assert world.send("issuer2", "revoke", {"id": lid, "reason": "吊销"}) == "ok"
    assert world.send("rp1", "use", world.auth(lid)) == "licence_not_valid"
    revoked = world.record(lid)
    for op in TRANSITIONS:
        assert world.send("issuer2", op, _args(world, op, lid)) == "transition_forbidden", op
        assert world.record(lid) == revoked
    short = world.issue()
    record = world.record(short)
    # Expiry: a block a year and a day later.
    auth = world.auth(short, not_after=world.now + 400 * DAY_MS)
    assert (
        world.send("rp1", "use", auth, step_ms=(record["valid_until"] - world.now) + DAY_MS)
        == "licence_not_valid"
    )


# --- property: the lifecycle state machine ---------------------------------------------------

# The state machine as docs/licences.md writes it down (independent of the model's own table):
# operation -> (from which statuses, to which status, makes a new version).
DOCUMENTED = {
    "change": ({"active"}, "active", True),
    "renew": ({"active"}, "active", True),
    "suspend": ({"active"}, "suspended", False),
    "resume": ({"suspended"}, "active", False),
    "revoke": ({"active", "suspended"}, "revoked", False),
    "cancel": ({"active", "suspended"}, "cancelled", False),
}
OPERATIONS = sorted(DOCUMENTED)
TERMINAL = {"revoked", "cancelled"}


def _args(world: World, op: str, lid: str) -> dict[str, Any]:
    args: dict[str, Any] = {"id": lid, "reason": f"{op} for a reason"}
    if op == "change":
        args |= {"data_digest": secrets.token_bytes(32), "file_digest": secrets.token_bytes(32)}
    if op == "renew":
        args |= {"valid_until": world.now + 700 * DAY_MS}
    return args


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.sampled_from([*OPERATIONS, "use"]), min_size=1, max_size=12))
def test_lifecycle_follows_the_documented_state_machine(
    tmp_path_factory: pytest.TempPathFactory, ops: list[str]
) -> None:
    world = _world(tmp_path_factory)
    lid = world.issue()
    status, version, events = "active", 1, 1
    for op in ops:
        before = world.record(lid)
        if op == "use":
            code = world.send("rp1", "use", world.auth(lid))
            assert (code == "ok") == (status == "active"), (status, code)
            assert world.record(lid) == before  # using a licence never changes it
            continue
        code = world.send("issuer2", op, _args(world, op, lid))
        allowed, after, new_version = DOCUMENTED[op]
        if status in allowed:
            assert code == "ok", (status, op, code)
            status, events = str(after), events + 1
            version += 1 if new_version else 0
        else:
            assert code == "transition_forbidden", (status, op, code)
            assert world.record(lid) == before
        record = world.record(lid)
        assert (record["status"], record["version"], record["events"]) == (status, version, events)
        if before["status"] in TERMINAL:
            assert record == before  # final states are final


def test_status_lists_follow_the_lifecycle(world: World) -> None:
    first, second = world.issue(), world.issue()
    index = world.record(second)["index"]
    assert world.record(first)["index"] == index - 1

    def bits(purpose: str) -> tuple[bool, bool]:
        chunks = {
            k: v
            for k, v in world.state.state.items()
            if k.startswith(b"licence/b/" + purpose.encode() + b"/")
        }
        data = codec.decode(chunks[min(chunks)]) if chunks else b""
        return get_bit(data, index - 1), get_bit(data, index)

    assert bits("suspension") == (False, False) and bits("revocation") == (False, False)
    assert world.send("issuer2", "suspend", {"id": second, "reason": "check"}) == "ok"
    assert bits("suspension") == (False, True)
    assert world.send("issuer2", "revoke", {"id": second, "reason": "fraud"}) == "ok"
    assert bits("suspension") == (False, False) and bits("revocation") == (False, True)


def test_licence_records_are_provable_under_the_state_root(world: World) -> None:
    """Each block binds the sparse Merkle root of the licence records into its state root."""
    first = world.issue()
    second = world.issue()
    assert world.send("issuer2", "suspend", {"id": first, "reason": "check"}) == "ok"
    h = world.chain.suite.hash

    class Nodes:
        def get(self, position: bytes) -> bytes | None:
            return world.state.state.get(SMT_NODES + position)

        def put(self, position: bytes, node: bytes | None) -> None:
            raise AssertionError("read only")

    root = smt.root(h, Nodes())
    assert root != smt.EMPTY
    for lid in (first, second, "BL-org2-00000099-0"):
        key = b"licence/l/" + lid.encode()
        value = world.state.state.get(key)
        value_hash, proof = smt.prove(h, Nodes(), h(key))
        assert value_hash == (None if value is None else h(value))
        assert smt.verify(h, root, h(key), value_hash, proof)
    # The suspension is what the tree holds now, and nothing but the licence records is in it.
    value_hash, _ = smt.prove(h, Nodes(), h(b"licence/l/" + first.encode()))
    assert value_hash == h(world.state.state[b"licence/l/" + first.encode()])
    assert codec.decode(world.state.state[b"licence/l/" + first.encode()])["status"] == "suspended"
    leaves = [v for k, v in world.state.state.items() if k.startswith(SMT_NODES) and v.startswith(b"L")]
    assert len(leaves) == 2
