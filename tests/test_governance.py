"""Committee governance on a 3-organisation consortium: proposals, votes, thresholds, heights."""

from __future__ import annotations

import time
import weakref
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govchain.contracts import default_registry
from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate, create_ca, issue
from govchain.ledger.blocks import Header, genesis_header
from govchain.ledger.governance import effective_params
from govchain.ledger.orgs import genesis_orgs
from govchain.ledger.state_transition import ChainContext, Parent
from govchain.ledger.transactions import SignedTx, TxBody, make_tx, new_nonce, sign_tx
from govchain.merkle import root_from_leaf_hashes
from govchain.node.consortium import init_consortium
from tests.conftest import Env, code
from tests.harness import MemoryState, run_block


def enrol_admins(env: Env, orgs: tuple[str, ...] = ("org1", "org2", "org3")) -> dict[str, Any]:
    admins = {}
    for org in orgs:
        keys = KeyFile.load(env.out / org / "admin-key.json").keys
        assert code(env.enroll(keys, Certificate.load((env.out / org / "admin.pem").read_bytes()))) == "ok"
        admins[org] = keys
    return admins


def propose(
    env: Env, keys: Any, action: str, args: dict[str, Any], **extra: Any
) -> tuple[bytes, dict[str, Any]]:
    _, reply = env.send(keys, "governance", "propose", {"action": action, "args": args, **extra})
    assert reply.get("code") == "ok", reply
    proposal = bytes.fromhex(reply["id"])
    return proposal, reply


def proposal_state(env: Env, proposal: bytes) -> dict[str, Any]:
    found = env.node.query("governance", "proposals", {})
    return next(p for p in found if p["id"] == proposal)


def wait_height(env: Env, height: int) -> None:
    deadline = time.time() + 30
    replies = []
    while env.node.height < height and time.time() < deadline:
        replies.append(env.notarize(env_member(env)))
    assert env.node.height >= height, (env.node.error, env.node.pending(), replies[-3:])


_members: dict[int, tuple[weakref.ref[Env], Any]] = {}


def env_member(env: Env) -> Any:
    """One enrolled member per test's chain. Keyed by id(), which a later Env may reuse once this
    one is gone: the entry counts only while it still names this very Env (a reused id gave a gm
    chain an intl test's key, refused as bad_signature)."""
    found = _members.get(id(env))
    if found is None or found[0]() is not env:
        keys, cert = env.new_member("org1", "client", "filler")
        env.enroll(keys, cert)
        found = _members[id(env)] = (weakref.ref(env), keys)
    return found[1]


def test_block_size_changes_at_its_height_after_enough_votes(env: Env) -> None:
    admins = enrol_admins(env)
    before = env.node.params()
    proposal, _ = propose(env, admins["org1"], "set_params", {"max_block_txs": 3}, title="smaller blocks")
    assert proposal_state(env, proposal)["status"] == "open"  # 1 of 3: not more than 2/3
    assert (
        code(env.send(admins["org1"], "governance", "execute", {"proposal": proposal})) == "below_threshold"
    )
    assert (
        code(env.send(admins["org2"], "governance", "vote", {"proposal": proposal, "approve": True})) == "ok"
    )
    assert proposal_state(env, proposal)["status"] == "open"  # 2 of 3 is not more than 2/3 either
    assert env.node.params() == before
    assert (
        code(env.send(admins["org3"], "governance", "vote", {"proposal": proposal, "approve": True})) == "ok"
    )
    state = proposal_state(env, proposal)
    assert state["status"] == "executed" and state["votes"] == {"org1": True, "org2": True, "org3": True}
    effective = state["effective_height"]
    wait_height(env, effective)
    assert env.node.params().max_block_txs == 3
    # Blocks after the change hold at most 3 transactions.
    keys = env_member(env)
    txs = []
    for _ in range(12):
        body = TxBody(
            env.node.genesis.chain_id,
            keys.public,
            "notary",
            "anchor",
            {"digest": env.suite.hash(new_nonce())},
            new_nonce(),
            int(time.time() * 1000) + 60_000,
        )
        txs.append(sign_tx(env.suite, keys.private, body))
    start = env.node.height
    assert all(a.accepted for a in env.node.admit([t.raw for t in txs]))
    deadline = time.time() + 10
    while any(env.node.store.tx(t.id) is None for t in txs) and time.time() < deadline:
        time.sleep(0.05)
    heights = {env.node.store.tx(t.id).height for t in txs}  # type: ignore[union-attr]
    assert len(heights) >= 4  # 12 transactions at most 3 per block
    for h in range(start + 1, env.node.height + 1):
        stored = env.node.store.block(h)
        assert stored is not None and Header.decode(stored.header).tx_count <= 3


def test_vote_refusals(env: Env) -> None:
    admins = enrol_admins(env)
    proposal, _ = propose(
        env, admins["org1"], "set_threshold", {"action": "set_params", "threshold": "MAJORITY"}
    )
    vote = {"proposal": proposal, "approve": True}
    # The proposer's organisation has voted by proposing.
    assert code(env.send(admins["org1"], "governance", "vote", vote)) == "duplicate_vote"
    assert code(env.send(admins["org2"], "governance", "vote", vote)) == "ok"
    assert code(env.send(admins["org2"], "governance", "vote", vote)) == "duplicate_vote"
    state = proposal_state(env, proposal)
    assert state["votes"] == {"org1": True, "org2": True} and state["status"] == "open"
    # A "no" that makes the threshold unreachable closes the proposal.
    assert (
        code(env.send(admins["org3"], "governance", "vote", {"proposal": proposal, "approve": False})) == "ok"
    )
    assert proposal_state(env, proposal)["status"] == "rejected"
    assert (
        code(env.send(admins["org3"], "governance", "execute", {"proposal": proposal})) == "proposal_closed"
    )
    # Expired proposals take no votes.
    short, _ = propose(env, admins["org1"], "set_params", {"block_time_ms": 50}, ttl_ms=300)
    time.sleep(0.6)
    assert code(env.send(admins["org2"], "governance", "vote", {"proposal": short, "approve": True})) == (
        "proposal_expired"
    )
    assert proposal_state(env, short)["votes"] == {"org1": True}
    # Only admins propose; a regulator never does.
    client_keys, client_cert = env.new_member("org2", "client", "c")
    env.enroll(client_keys, client_cert)
    _, reply = env.send(
        client_keys, "governance", "propose", {"action": "set_params", "args": {"max_block_txs": 9}}
    )
    assert reply["error"]["code"] == "forbidden"
    reg_keys, reg_cert = env.new_member("org3", "regulator", "r")
    env.enroll(reg_keys, reg_cert)
    assert code(
        env.send(reg_keys, "governance", "propose", {"action": "set_params", "args": {"max_block_txs": 9}})
    ) == ("forbidden")
    bad = env.send(
        admins["org1"], "governance", "propose", {"action": "set_params", "args": {"max_block_txs": -1}}
    )
    assert code(bad) == "invalid_args"


def test_policy_change_by_governance(env: Env) -> None:
    admins = enrol_admins(env)
    keys, cert = env.new_member("org2", "client", "citizen desk")
    assert code(env.enroll(keys, cert)) == "ok"
    assert code(env.notarize(keys)) == "ok"
    args = {"contract": "notary", "method": "anchor", "roles": ["issuer", "admin"], "allow_regulator": False}
    proposal, _ = propose(env, admins["org1"], "set_policy", args)
    for org in ("org2", "org3"):
        env.send(admins[org], "governance", "vote", {"proposal": proposal, "approve": True})
    wait_height(env, proposal_state(env, proposal)["effective_height"])
    assert code(env.notarize(keys)) == "forbidden"
    issuer, issuer_cert = env.new_member("org2", "issuer", "licensing office")
    env.enroll(issuer, issuer_cert)
    assert code(env.notarize(issuer)) == "ok"


# --- property: one organisation alone cannot decide -------------------------------


def _setup(tmp: Path) -> tuple[ChainContext, list[Any], Parent, MemoryState]:
    out = tmp / "cons"
    genesis = init_consortium(out, 3, "intl")
    suite = get_suite("intl")
    orgs = {o.id: o for o in genesis_orgs(genesis)}
    chain = ChainContext(suite, genesis, default_registry(), orgs)
    ca = Certificate.load((out / "org1" / "ca.pem").read_bytes())
    ca_key = KeyFile.load(out / "org1" / "ca-key.json").keys.private
    admins = []
    for i in range(3):  # three admins, all of org1
        keys = suite.generate_keypair()
        now = genesis.time
        cert = issue(suite, ca, ca_key, keys.public, "org1", "admin", f"admin{i}", now - 1000, now + 10**10)
        admins.append((keys, cert))
    empty = root_from_leaf_hashes(suite.hash, [])
    parent = Parent(genesis_header(suite, genesis, empty), ())
    return chain, admins, parent, MemoryState()


_SETUP: dict[str, Any] = {}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["propose", "vote", "execute"]), st.integers(0, 2), st.booleans()),
        min_size=1,
        max_size=8,
    )
)
def test_one_organisation_alone_cannot_change_anything(tmp_path_factory: Any, steps: list[Any]) -> None:
    if not _SETUP:
        _SETUP["v"] = _setup(tmp_path_factory.mktemp("gov"))
    chain, admins, genesis_parent, _ = _SETUP["v"]
    reader = MemoryState()
    suite = chain.suite
    expiry = genesis_parent.header.time + 3_600_000

    def tx(keys: Any, contract: str, method: str, args: dict[str, Any]) -> SignedTx:
        return make_tx(suite, keys, chain.genesis.chain_id, contract, method, args, expiry)

    enrolments = [tx(k, "membership", "enroll", {"cert": c.der}) for k, c in admins]
    parent, codes = run_block(chain, genesis_parent, reader, enrolments)
    assert codes == ["ok", "ok", "ok"]  # three admins, all of org1
    proposals: list[bytes] = []
    for action, who, approve in steps:
        keys = admins[who][0]
        if action == "propose" or not proposals:
            t = tx(keys, "governance", "propose", {"action": "set_params", "args": {"max_block_txs": 7}})
            proposals.append(t.id)
        elif action == "vote":
            t = tx(keys, "governance", "vote", {"proposal": proposals[-1], "approve": approve})
        else:
            t = tx(keys, "governance", "execute", {"proposal": proposals[-1]})
        parent, codes = run_block(chain, parent, reader, [t])
        if t.id in proposals:
            assert codes == ["ok"]  # proposing works; only deciding alone must not

    class _Raw:
        def get(self, key: bytes) -> bytes | None:
            return reader.state.get(key)

    assert effective_params(chain.genesis, _Raw(), parent.header.height + 10) == chain.genesis.params
    assert not any(k.startswith(b"governance/params") for k in reader.state)


def decide(env: Env, admins: dict[str, Any], action: str, args: dict[str, Any]) -> dict[str, Any]:
    """org1 proposes, every other organisation votes yes; wait until the change is in force."""
    proposal, _ = propose(env, admins["org1"], action, args)
    for org, keys in admins.items():
        if org != "org1" and proposal_state(env, proposal)["status"] == "open":
            assert code(env.send(keys, "governance", "vote", {"proposal": proposal, "approve": True})) == "ok"
    state = proposal_state(env, proposal)
    assert state["status"] == "executed", state
    wait_height(env, state["effective_height"])
    return state


def _new_ca(env: Env, org_id: str) -> tuple[Certificate, Any]:
    keys = env.suite.generate_keypair()
    now = int(time.time() * 1000)
    return create_ca(env.suite, org_id, f"{org_id} CA", keys, now - 1000, now + 10**10), keys


def _member_of(
    env: Env, ca: Certificate, ca_keys: Any, org: str, role: str = "client"
) -> tuple[Any, Certificate]:
    keys = env.suite.generate_keypair()
    now = int(time.time() * 1000)
    cert = issue(
        env.suite, ca, ca_keys.private, keys.public, org, role, f"{org} {role}", now - 1000, now + 10**9
    )
    return keys, cert


def test_organisations_change_only_by_vote(env: Env) -> None:
    admins = enrol_admins(env)
    env_member(env)  # a filler member of org1, for moving blocks along
    # add_org: a fourth organisation with its own CA.
    ca4, ca4_keys = _new_ca(env, "org4")
    org4 = {"id": "org4", "name_zh": "区档案馆", "name_en": "District Archive", "ca": ca4.der, "peers": []}
    decide(env, admins, "add_org", {"org": org4})
    orgs = env.client.get("/v1/orgs").json()["orgs"]
    assert [o["id"] for o in orgs] == ["org1", "org2", "org3", "org4"] and orgs[3]["name_zh"] == "区档案馆"
    keys4, cert4 = _member_of(env, ca4, ca4_keys, "org4")
    assert code(env.enroll(keys4, cert4)) == "ok"
    assert code(env.notarize(keys4)) == "ok"
    # remove_org: org3's members lose their rights from the removal's height (4 orgs: 4 votes needed by >2/3).
    keys3, cert3 = env.new_member("org3", "client", "soon gone")
    assert code(env.enroll(keys3, cert3)) == "ok"
    admin4, admin4_cert = _member_of(env, ca4, ca4_keys, "org4", "admin")
    assert code(env.enroll(admin4, admin4_cert)) == "ok"
    admins["org4"] = admin4
    decide(env, admins, "remove_org", {"id": "org3"})
    assert code(env.notarize(keys3)) == "org_removed"
    assert [o["id"] for o in env.client.get("/v1/orgs").json()["orgs"]] == ["org1", "org2", "org4"]
    del admins["org3"]
    # rotate_ca: after rotation, certificates from org2's old CA no longer enrol; the new CA's do.
    new_ca, new_ca_keys = _new_ca(env, "org2")
    decide(env, admins, "rotate_ca", {"org": "org2", "ca": new_ca.der})
    old_keys, old_cert = env.new_member("org2", "client", "old CA")
    assert code(env.enroll(old_keys, old_cert)) in {"cert_bad_signature", "cert_issuer_mismatch"}
    new_keys, new_cert = _member_of(env, new_ca, new_ca_keys, "org2")
    assert code(env.enroll(new_keys, new_cert)) == "ok"
    # add_peer / remove_peer
    peer = env.suite.generate_keypair().public
    decide(env, admins, "add_peer", {"org": "org4", "key": peer})
    assert env.client.get("/v1/orgs").json()["orgs"][2]["peers"] == [peer.hex()]
    decide(env, admins, "remove_peer", {"org": "org4", "key": peer})
    assert env.client.get("/v1/orgs").json()["orgs"][2]["peers"] == []


def test_bad_organisation_changes_are_refused_when_proposed(env: Env) -> None:
    admins = enrol_admins(env)
    ca, _ = _new_ca(env, "orgx")
    cases = [
        ("add_org", {"org": {"id": "org2", "name_zh": "重复", "name_en": "Dup", "ca": ca.der, "peers": []}}),
        (
            "add_org",
            {"org": {"id": "orgy", "name_zh": "错", "name_en": "Mismatch", "ca": ca.der, "peers": []}},
        ),
        ("remove_org", {"id": "org9"}),
        ("rotate_ca", {"org": "org2", "ca": b"not a certificate"}),
        ("add_peer", {"org": "org1", "key": env.node.orgs[0].peers[0]}),
        ("remove_peer", {"org": "org2", "key": env.suite.generate_keypair().public}),
    ]
    for action, args in cases:
        reply = env.send(admins["org1"], "governance", "propose", {"action": action, "args": args})
        assert code(reply) == "invalid_args", (action, reply)
