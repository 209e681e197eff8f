"""The governance contract (committee): proposals, one vote per organisation, decisions at a set height.

- `propose {action, args, title?, ttl_ms?, delay?}` by an org `admin`: opens a
  proposal whose id is the transaction id. The proposer's organisation approves it.
- `vote {proposal, approve}` by an org `admin`: one vote per organisation;
  a second vote from the same organisation is `duplicate_vote`; a vote after
  the expiry is `proposal_expired`.
- `execute {proposal}`: carries out a proposal that has reached its threshold
  (votes do this by themselves); below the threshold it fails `below_threshold`.

Thresholds are `ALL`, `MAJORITY`, a number of organisations, or `>a/b`; the
default is more than 2/3 of the organisations (ledger/governance.py). An executed
decision takes effect at `height + delay` (delay >= 1 block), the same height on
every peer.

Actions:
- `set_params {max_block_txs?, block_time_ms?, max_tx_bytes?, max_tx_ttl_ms?}`
- `set_policy {contract, method, roles (list or null), allow_regulator}`
- `set_read_policy {contract, query, policy: {roles, own_org} | null}`: who may run a
  restricted query (audit.read); null restores the contract's own policy. A
  regulator always reads: no policy can take that away
- `set_threshold {action, threshold}`
- `register {kind: "licence_type" | "rule_set", id, doc (map)}` for later modules
- `add_org {org: {id, name_zh, name_en, ca, peers}}`, `remove_org {id}`
- `rotate_ca {org, ca}`: members enrolled under the old CA stay; new enrolments need the new CA
- `add_peer {org, key}`, `remove_peer {org, key}`

Members of a removed organisation are refused (`org_removed`) from the height the
removal takes effect.
"""

from __future__ import annotations

from typing import Any

from govchain.crypto import Suite
from govchain.crypto.x509 import ROLES
from govchain.ledger import errors
from govchain.ledger.blocks import ChainParams, check_name
from govchain.ledger.contracts import Context, Contract
from govchain.ledger.governance import (
    DEFAULT_THRESHOLD,
    GOVERNANCE,
    check_threshold,
    policy_key,
    policy_to_value,
    read_policy_key,
    registry_key,
    threshold_met,
    versioned,
)
from govchain.ledger.membership import UNKNOWN_QUERY, Policy, ReadPolicy
from govchain.ledger.orgs import Org, check_orgs
from govchain.ledger.signers import SIGNER_HEIGHTS_KEY, SIGNERS_KEY, signer_keys, signers_key
from govchain.state import ReadView

ACTIONS = (
    "set_params",
    "set_policy",
    "set_read_policy",
    "set_threshold",
    "register",
    "add_org",
    "remove_org",
    "rotate_ca",
    "add_peer",
    "remove_peer",
)
REGISTRY_KINDS = ("licence_type", "rule_set")
DEFAULT_TTL_MS = 7 * 24 * 3600 * 1000
MAX_TTL_MS = 30 * 24 * 3600 * 1000
MAX_DELAY = 100_000
MAX_TITLE = 256

DUPLICATE_VOTE = "duplicate_vote"
PROPOSAL_EXPIRED = "proposal_expired"
PROPOSAL_CLOSED = "proposal_closed"
BELOW_THRESHOLD = "below_threshold"
INVALID_READ_POLICY = "invalid_read_policy"

ADMINS = Policy(roles=frozenset({"admin"}))


def _proposal_key(proposal_id: bytes) -> bytes:
    return b"p/" + proposal_id


def _check_action(ctx: Context, action: Any, args: Any) -> None:
    """Refuse a malformed action when it is proposed, not when it executes."""
    if action not in ACTIONS:
        ctx.fail(errors.INVALID_ARGS, f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if type(args) is not dict:
        ctx.fail(errors.INVALID_ARGS, "'args' must be a map")
    if action == "set_read_policy":
        _check_read_policy(ctx, args)
        return
    try:
        if action == "set_params":
            allowed = set(ChainParams().to_value())
            if not args or set(args) - allowed or any(type(v) is not int or v <= 0 for v in args.values()):
                raise ValueError(f"set_params takes positive integers for some of {sorted(allowed)}")
        elif action == "set_policy":
            if set(args) != {"contract", "method", "roles", "allow_regulator"}:
                raise ValueError("set_policy takes contract, method, roles, allow_regulator")
            check_name(args["contract"], "contract")
            check_name(args["method"], "method")
            roles = args["roles"]
            if roles is not None and (type(roles) is not list or not set(roles) <= set(ROLES) or not roles):
                raise ValueError(f"roles must be null or a non-empty list of {', '.join(ROLES)}")
            if type(args["allow_regulator"]) is not bool:
                raise ValueError("allow_regulator must be true or false")
        elif action == "set_threshold":
            if set(args) != {"action", "threshold"} or args["action"] not in ACTIONS:
                raise ValueError(
                    f"set_threshold takes 'action' (one of {', '.join(ACTIONS)}) and 'threshold'"
                )
            if type(args["threshold"]) is not str:
                raise ValueError("threshold must be text")
            check_threshold(args["threshold"])
        elif action in ORG_ACTIONS:
            _org_change(ctx, action, args)
        elif action == "register":
            if set(args) != {"kind", "id", "doc"} or args["kind"] not in REGISTRY_KINDS:
                raise ValueError(f"register takes kind (one of {', '.join(REGISTRY_KINDS)}), id and doc")
            check_name(args["id"], "id")
            if type(args["doc"]) is not dict:
                raise ValueError("doc must be a map")
    except ValueError as exc:
        ctx.fail(errors.INVALID_ARGS, str(exc))


def _check_read_policy(ctx: Context, args: dict[str, Any]) -> ReadPolicy | None:
    """The policy a `set_read_policy` sets (None: back to the contract's own), or fail with why not."""
    if set(args) != {"contract", "query", "policy"}:
        ctx.fail(errors.INVALID_ARGS, "set_read_policy takes contract, query and policy")
    contract, query = args["contract"], args["query"]
    if type(contract) is not str or type(query) is not str:
        ctx.fail(errors.INVALID_ARGS, "'contract' and 'query' must be text")
    if (contract, query) not in ctx.read_policies:
        ctx.fail(UNKNOWN_QUERY, f"'{contract}.{query}' is not a restricted query of this chain")
    if args["policy"] is None:
        return None
    try:
        return ReadPolicy.from_value(args["policy"])
    except ValueError as exc:
        ctx.fail(INVALID_READ_POLICY, str(exc))


ORG_ACTIONS = ("add_org", "remove_org", "rotate_ca", "add_peer", "remove_peer")


def _org_change(ctx: Context, action: str, args: dict[str, Any]) -> list[Org]:
    """The organisation list after the change; ValueError if the change is not valid now."""
    orgs = dict(ctx.orgs)
    if action == "add_org":
        if set(args) != {"org"}:
            raise ValueError("add_org takes 'org': {id, name_zh, name_en, ca, peers}")
        org = Org.from_value(args["org"])
        if org.id in orgs:
            raise ValueError(f"organisation {org.id} already exists")
        orgs[org.id] = org
    elif action == "remove_org":
        if set(args) != {"id"} or args["id"] not in orgs:
            raise ValueError("remove_org takes 'id' of an existing organisation")
        if len(orgs) == 1:
            raise ValueError("the last organisation cannot be removed")
        del orgs[args["id"]]
    else:
        org_id = args.get("org")
        if org_id not in orgs:
            raise ValueError(f"{action} takes 'org', an existing organisation")
        org = orgs[org_id]
        if action == "rotate_ca":
            if set(args) != {"org", "ca"} or type(args["ca"]) is not bytes:
                raise ValueError("rotate_ca takes 'org' and 'ca' (DER of the new CA certificate)")
            orgs[org_id] = Org(org.id, org.name_zh, org.name_en, args["ca"], org.peers)
        else:
            key = args.get("key")
            if set(args) != {"org", "key"} or type(key) is not bytes or len(key) != 65:
                raise ValueError(f"{action} takes 'org' and 'key' (65-byte public key)")
            if action == "add_peer":
                if any(key in o.peers for o in orgs.values()):
                    raise ValueError("this peer key already belongs to an organisation")
                orgs[org_id] = Org(org.id, org.name_zh, org.name_en, org.ca, (*org.peers, key))
            else:
                if key not in org.peers:
                    raise ValueError(f"{org_id} has no such peer")
                peers = tuple(p for p in org.peers if p != key)
                orgs[org_id] = Org(org.id, org.name_zh, org.name_en, org.ca, peers)
    result = list(orgs.values())
    check_orgs(ctx.suite, result, ctx.time)
    return result


def propose(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    assert ctx.member is not None  # the policy admits only enrolled admins
    if set(args) - {"action", "args", "title", "ttl_ms", "delay"}:
        ctx.fail(errors.INVALID_ARGS, "propose takes action, args, title, ttl_ms, delay")
    action, action_args = args.get("action"), args.get("args", {})
    _check_action(ctx, action, action_args)
    ttl, delay, title = args.get("ttl_ms", DEFAULT_TTL_MS), args.get("delay", 1), args.get("title", "")
    if type(ttl) is not int or not 0 < ttl <= MAX_TTL_MS:
        ctx.fail(errors.INVALID_ARGS, f"ttl_ms must be 1..{MAX_TTL_MS}")
    if type(delay) is not int or not 1 <= delay <= MAX_DELAY:
        ctx.fail(errors.INVALID_ARGS, f"delay must be 1..{MAX_DELAY} blocks")
    if type(title) is not str or len(title) > MAX_TITLE:
        ctx.fail(errors.INVALID_ARGS, f"title must be text of at most {MAX_TITLE} characters")
    proposal = {
        "action": action,
        "args": action_args,
        "title": title,
        "proposer": ctx.sender,
        "org": ctx.member.org,
        "created": ctx.height,
        "expires": ctx.time + ttl,
        "delay": delay,
        "threshold": _threshold(ctx, action),
        "votes": {ctx.member.org: True},
        "status": "open",
        "effective_height": None,
    }
    ctx.emit("proposed", proposal=ctx.tx_id, action=action, org=ctx.member.org)
    _settle(ctx, ctx.tx_id, proposal)
    return {"proposal": ctx.tx_id, "status": proposal["status"], "threshold": proposal["threshold"]}


def vote(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    assert ctx.member is not None
    proposal_id, approve = args.get("proposal"), args.get("approve")
    if set(args) != {"proposal", "approve"} or type(proposal_id) is not bytes or type(approve) is not bool:
        ctx.fail(errors.INVALID_ARGS, "vote takes 'proposal' (id) and 'approve' (true/false)")
    proposal = _open_proposal(ctx, proposal_id)
    if ctx.member.org in proposal["votes"]:
        ctx.fail(DUPLICATE_VOTE, f"organisation {ctx.member.org} has already voted on this proposal")
    proposal["votes"][ctx.member.org] = approve
    ctx.emit("voted", proposal=proposal_id, org=ctx.member.org, approve=approve)
    _settle(ctx, proposal_id, proposal)
    return {"status": proposal["status"], "effective_height": proposal["effective_height"]}


def execute(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    proposal_id = args.get("proposal")
    if set(args) != {"proposal"} or type(proposal_id) is not bytes:
        ctx.fail(errors.INVALID_ARGS, "execute takes 'proposal' (id)")
    proposal = _open_proposal(ctx, proposal_id)
    approvals = sum(1 for v in proposal["votes"].values() if v)
    if not threshold_met(proposal["threshold"], approvals, len(ctx.orgs)):
        ctx.fail(
            BELOW_THRESHOLD,
            f"{approvals} of {len(ctx.orgs)} organisations approve; "
            f"threshold {proposal['threshold']} not reached",
        )
    _settle(ctx, proposal_id, proposal)
    return {"status": proposal["status"], "effective_height": proposal["effective_height"]}


def _open_proposal(ctx: Context, proposal_id: bytes) -> dict[str, Any]:
    proposal: dict[str, Any] | None = ctx.state.get(_proposal_key(proposal_id))
    if proposal is None:
        ctx.fail(errors.NOT_FOUND, "no such proposal")
    if proposal["status"] != "open":
        ctx.fail(PROPOSAL_CLOSED, f"the proposal is already {proposal['status']}")
    if ctx.time > proposal["expires"]:
        ctx.fail(PROPOSAL_EXPIRED, "the proposal expired before this transaction")
    return proposal


def _settle(ctx: Context, proposal_id: bytes, proposal: dict[str, Any]) -> None:
    """Store the proposal; carry it out if its threshold is met, close it if it can no longer be."""
    orgs = len(ctx.orgs)
    approvals = sum(1 for v in proposal["votes"].values() if v)
    undecided = orgs - len(proposal["votes"])
    if threshold_met(proposal["threshold"], approvals, orgs):
        proposal["status"] = "executed"
        proposal["effective_height"] = ctx.height + proposal["delay"]
        _apply(ctx, proposal["action"], proposal["args"], proposal["effective_height"])
        ctx.emit("executed", proposal=proposal_id, effective_height=proposal["effective_height"])
    elif not threshold_met(proposal["threshold"], approvals + undecided, orgs):
        proposal["status"] = "rejected"
        ctx.emit("rejected", proposal=proposal_id)
    ctx.state.put(_proposal_key(proposal_id), proposal)


def _threshold(ctx: Context, action: str) -> str:
    value = versioned(ctx.state.get(b"threshold/" + action.encode()), ctx.height)
    return DEFAULT_THRESHOLD if value is None else str(value)


def _apply(ctx: Context, action: str, args: dict[str, Any], height: int) -> None:
    if action == "set_params":
        _put_versioned(ctx, b"params", {**ctx.params.to_value(), **args}, height)
    elif action == "set_policy":
        policy = Policy(
            roles=None if args["roles"] is None else frozenset(args["roles"]),
            allow_regulator=args["allow_regulator"],
        )
        _put_versioned(ctx, policy_key(args["contract"], args["method"]), policy_to_value(policy), height)
    elif action == "set_read_policy":
        read_policy = _check_read_policy(ctx, args)
        value = None if read_policy is None else read_policy.to_value()
        _put_versioned(ctx, read_policy_key(args["contract"], args["query"]), value, height)
    elif action == "set_threshold":
        _put_versioned(ctx, b"threshold/" + args["action"].encode(), args["threshold"], height)
    elif action in ORG_ACTIONS:
        try:
            orgs = _org_change(ctx, action, args)
        except ValueError as exc:  # valid when proposed, but the organisations changed since
            ctx.fail(errors.CONFLICT, f"cannot {action} now: {exc}")
        signers = _next_signers(ctx, orgs)
        if not signers:
            ctx.fail(errors.CONFLICT, f"cannot {action} now: no peer would be left to sign blocks")
        _put_versioned(ctx, b"orgs", [org.to_value() for org in orgs], height)
        _record_signers(ctx, signers, height)
    elif action == "register":
        _put_versioned(ctx, registry_key(args["kind"], args["id"]), args["doc"], height)


def _next_signers(ctx: Context, orgs: list[Org]) -> list[bytes]:
    """The last decided signer set without the peers this change removes, with those it adds."""
    heights = ctx.state.get(SIGNER_HEIGHTS_KEY) or []
    base = set(ctx.genesis_signers if not heights else ctx.state.get(signers_key(heights[-1])))
    before, after = set(signer_keys(ctx.orgs.values())), set(signer_keys(orgs))
    return sorted((base - (before - after)) | (after - before))


def _record_signers(ctx: Context, signers: list[bytes], height: int) -> None:
    """The signer set from `height` on (ledger/signers.py): provable, for offline verifiers."""
    heights = ctx.state.get(SIGNER_HEIGHTS_KEY) or []
    if not heights and signers == sorted(ctx.genesis_signers):
        return  # nothing changes: receipts keep the genesis signers
    ctx.state.put(signers_key(height), signers)
    if height not in heights:
        ctx.state.put(SIGNER_HEIGHTS_KEY, sorted([*heights, height]))


def _put_versioned(ctx: Context, key: bytes, value: Any, height: int) -> None:
    old = ctx.state.get(key)
    previous = versioned(old, ctx.height) if old is not None else None
    ctx.state.put(key, {"from": height, "value": value, "previous": previous})


def proposals(view: ReadView, suite: Suite, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Every proposal (up to 1,000), with its votes and status; open ones past expiry read `expired`."""
    now = args.get("now")
    found = []
    for key, value in view.scan(b"p/", 1000):
        item = dict(value, id=key[2:])
        if item["status"] == "open" and type(now) is int and now > item["expires"]:
            item["status"] = "expired"
        found.append(item)
    return found


def registry(view: ReadView, suite: Suite, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Catalogue entries (licence types, rule sets), optionally of one kind, with the height they
    take effect from and the document before that."""
    kind = args.get("kind")
    prefix = b"registry/" + (kind.encode() + b"/" if type(kind) is str else b"")
    found = []
    for key, record in view.scan(prefix, 1000):
        entry_kind, entry_id = key[len(b"registry/") :].decode().split("/", 1)
        found.append({"kind": entry_kind, "id": entry_id} | record)
    return found


def read_policies(view: ReadView, suite: Suite, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Governance's read-policy records ({contract, query, from, value, previous}); the API joins
    them with the contracts' own policies (ledger/governance.py `read_policies_in_force`)."""
    found = []
    for key, record in view.scan(b"read_policy/", 1000):
        contract, query = key[len(b"read_policy/") :].decode().split("/", 1)
        found.append({"contract": contract, "query": query} | record)
    return found


CONTRACT = Contract(
    name=GOVERNANCE,
    methods={"propose": propose, "vote": vote, "execute": execute},
    queries={"proposals": proposals, "registry": registry, "read_policies": read_policies},
    policies={"propose": ADMINS, "vote": ADMINS, "execute": ADMINS},
    provable=(SIGNERS_KEY,),  # signer set changes, proven in receipts (docs/protocol.md)
)
