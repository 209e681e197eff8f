"""The audit contract: restricted reads as signed, recorded transactions.

Restricted data (a contract's `restricted` queries) is never served to an
anonymous request. A reader signs `audit.read {contract, query, args, purpose}`;
the state machine checks that the reader is a current member, that the target is
a restricted query, and that its `ReadPolicy` in force admits the reader
(ledger/membership.py: a regulator reads everything; others need a listed role,
and some data only its own organisation may read). Governance may replace a
query's policy from a set height (`set_read_policy`, ledger/governance.py). The
read is then recorded, and only after the block commits does the node run the
query and answer (`POST /v1/reads`). So every read of restricted data, by a
regulator, an auditor or anyone else, is on chain with who, what, why and when,
and the access log itself is restricted data: reading it is recorded too (the
auditors are audited).

State (under `audit/`): `a/<height: 8 bytes big-endian><tx id>` -> the access
record. The key orders records by height, so the log reads newest first with a
reverse scan.

A read's arguments are public on chain, like every transaction body: a restricted
query must never take personal data as an argument (use ids or commitments).
"""

from __future__ import annotations

from typing import Any

from govchain import codec
from govchain.crypto import Suite
from govchain.ledger import errors
from govchain.ledger.contracts import Context, Contract, RestrictedQuery
from govchain.ledger.errors import TxRejected
from govchain.ledger.membership import AUDITOR, UNKNOWN_QUERY, Policy, ReadPolicy, authorize_read
from govchain.state import ReadView

NAME = "audit"
MAX_ARGS_BYTES = 4096
MAX_PURPOSE = 256
MAX_LOG = 1000


def read(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    if set(args) - {"contract", "query", "args", "purpose"}:
        ctx.fail(errors.INVALID_ARGS, "read takes only 'contract', 'query', 'args' and 'purpose'")
    contract, query, purpose = args.get("contract"), args.get("query"), args.get("purpose")
    query_args = args.get("args", {})
    if type(contract) is not str or type(query) is not str:
        ctx.fail(errors.INVALID_ARGS, "'contract' and 'query' must be text")
    if type(query_args) is not dict or len(codec.encode(query_args)) > MAX_ARGS_BYTES:
        ctx.fail(errors.INVALID_ARGS, f"'args' must be a map of at most {MAX_ARGS_BYTES} bytes")
    if type(purpose) is not str or not 0 < len(purpose.strip()) <= MAX_PURPOSE:
        ctx.fail(errors.INVALID_ARGS, f"'purpose' must say why, in 1..{MAX_PURPOSE} characters")
    policy = ctx.read_policy(contract, query)
    if policy is None:
        ctx.fail(UNKNOWN_QUERY, f"'{contract}.{query}' is not a restricted query of this chain")
    try:
        authorize_read(ctx.member, policy, query_args)
    except TxRejected as exc:
        ctx.fail(exc.code, exc.message)
    member = ctx.member
    record = {
        "reader": ctx.sender,
        "org": member.org if member else "",
        "role": member.role if member else "",
        "contract": contract,
        "query": query,
        "args": query_args,
        "purpose": purpose,
        "t": ctx.time,
    }
    ctx.state.put(b"a/" + ctx.height.to_bytes(8, "big") + ctx.tx_id, record)
    ctx.emit("read", contract=contract, query=query, org=record["org"], role=record["role"])
    return {"contract": contract, "query": query}


def access_log(view: ReadView, suite: Suite, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Recorded restricted reads, newest first (at most 1,000), optionally of one reader org."""
    org = args.get("org")
    limit = args.get("limit", 100)
    if type(limit) is not int or not 0 < limit <= MAX_LOG:
        raise ValueError(f"'limit' must be 1..{MAX_LOG}")
    found = []
    for key, value in view.scan(b"a/", MAX_LOG, reverse=True):
        if org is None or value["org"] == org:
            found.append(value | {"height": int.from_bytes(key[2:10], "big"), "tx": key[10:]})
            if len(found) == limit:
                break
    return found


CONTRACT = Contract(
    name=NAME,
    methods={"read": read},
    restricted={"access_log": RestrictedQuery(access_log, ReadPolicy(roles=frozenset({AUDITOR})))},
    policies={"read": Policy(allow_regulator=True)},  # a read writes only its own record
)
