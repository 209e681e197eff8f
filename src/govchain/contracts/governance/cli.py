"""`govchain proposal ...`: propose a change, vote on it as an organisation, follow it; read policies."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from govchain.cli.common import JSON_OPTION, NODE_OPTION, client_for, console, fail, print_json
from govchain.contracts.governance.contract import ACTIONS
from govchain.contracts.membership.cli import CONSORTIUM_OPTION, admin_client
from govchain.sdk.client import SdkError

proposal_app = typer.Typer(help="Committee governance: one vote per organisation.", no_args_is_help=True)

PROPOSER_OPTION = typer.Option(..., "--org", help="The proposing organisation (signs as its admin)")
TITLE_OPTION = typer.Option("", "--title", help="A short description")
DELAY_OPTION = typer.Option(1, "--delay", min=1, help="Blocks between execution and taking effect")
TTL_OPTION = typer.Option(168.0, "--ttl-hours", min=0.001, max=720, help="Voting window")


@proposal_app.command("create")
def proposal_create(
    action: str = typer.Option(..., "--action", help=f"One of: {', '.join(ACTIONS)}"),
    args: str = typer.Option(..., "--args", help="JSON, e.g. '{\"max_block_txs\": 500}'"),
    org: str = PROPOSER_OPTION,
    consortium: Path = CONSORTIUM_OPTION,
    title: str = TITLE_OPTION,
    delay: int = DELAY_OPTION,
    ttl_hours: float = TTL_OPTION,
    node: str = NODE_OPTION,
) -> None:
    """Open a proposal; the proposing organisation's vote counts as yes."""
    if action not in ACTIONS:
        fail(f"unknown action '{action}'; choose one of: {', '.join(ACTIONS)}", 2)
    try:
        parsed = json.loads(args)
    except ValueError as exc:
        fail(f"--args is not JSON: {exc}", 2)
    propose(action, parsed, org, consortium, title, delay, ttl_hours, node)


@proposal_app.command("read-policy")
def proposal_read_policy(
    contract: str = typer.Argument(..., help="Contract of the restricted query, e.g. audit"),
    query: str = typer.Argument(..., help="Restricted query, e.g. access_log"),
    roles: str = typer.Option(
        None, "--roles", help="Comma-separated roles that may read, besides regulators (empty: none)"
    ),
    own_org: bool = typer.Option(False, "--own-org", help="Readers see only their own organisation's data"),
    reset: bool = typer.Option(False, "--reset", help="Back to the contract's own policy"),
    org: str = PROPOSER_OPTION,
    consortium: Path = CONSORTIUM_OPTION,
    title: str = TITLE_OPTION,
    delay: int = DELAY_OPTION,
    ttl_hours: float = TTL_OPTION,
    node: str = NODE_OPTION,
) -> None:
    """Propose who may run a restricted query (set_read_policy). A regulator always may."""
    if reset == (roles is not None) or (reset and own_org):
        fail("give --roles (and maybe --own-org), or --reset alone", 2)
    policy = None
    if roles is not None:
        policy = {"roles": [r.strip() for r in roles.split(",") if r.strip()], "own_org": own_org}
    args = {"contract": contract, "query": query, "policy": policy}
    propose("set_read_policy", args, org, consortium, title, delay, ttl_hours, node)


@proposal_app.command("read-policies")
def proposal_read_policies(node: str = NODE_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Every restricted query: who may read it now, and whether governance changed it."""
    items = _listing(client_for(node).read_policies, as_json)
    if items is None:
        return
    table = Table("query", "readers (and regulators)", "own org", "set by")
    for item in items:
        policy, governed = item["in_force"], item["governed"]
        by = "contract"
        if governed is not None:
            by = f"{'contract' if governed['value'] is None else 'governance'} from block {governed['from']}"
        table.add_row(
            f"{item['contract']}.{item['query']}",
            ", ".join(policy["roles"]) or "(regulators only)",
            "yes" if policy["own_org"] else "no",
            by,
        )
    console.print(table)


def _listing(fetch: Callable[[], list[dict[str, Any]]], as_json: bool) -> list[dict[str, Any]] | None:
    """The listing to print as a table, or None once it was printed as JSON."""
    try:
        items = fetch()
    except SdkError as exc:
        fail(f"{exc.code}: {exc.message}")
    if as_json:
        print_json(items)
        return None
    return items


def propose(
    action: str,
    args: object,
    org: str,
    consortium: Path,
    title: str,
    delay: int,
    ttl_hours: float,
    node: str,
) -> bytes:
    """Open a proposal as `org`'s admin and show it; returns its id. Other modules' CLIs that
    change governed things (e.g. licence types) propose through this too."""
    client = admin_client(consortium, org, node)
    body = {
        "action": action,
        "args": args,
        "title": title,
        "delay": delay,
        "ttl_ms": int(ttl_hours * 3600_000),
    }
    try:
        done = client.call("governance", "propose", body)
    except SdkError as exc:
        fail(f"proposal refused: {exc.code}: {exc.message}")
    console.print(f"proposal [bold]{done.tx_id.hex()}[/] opened by {org}")
    _show(client_for(node).proposal(done.tx_id.hex()))
    return done.tx_id


@proposal_app.command("vote")
def proposal_vote(
    proposal: str = typer.Argument(..., help="Proposal id (hex)"),
    org: str = typer.Option(..., "--org", help="The voting organisation (signs as its admin)"),
    consortium: Path = CONSORTIUM_OPTION,
    reject: bool = typer.Option(False, "--reject", help="Vote no (default: yes)"),
    node: str = NODE_OPTION,
) -> None:
    """Cast ORG's vote. The proposal executes by itself once its threshold is reached."""
    try:
        proposal_id = bytes.fromhex(proposal)
    except ValueError:
        fail("the proposal id must be hex", 2)
    client = admin_client(consortium, org, node)
    try:
        client.call("governance", "vote", {"proposal": proposal_id, "approve": not reject})
    except SdkError as exc:
        fail(f"vote refused: {exc.code}: {exc.message}")
    _show(client_for(node).proposal(proposal))


@proposal_app.command("list")
def proposal_list(node: str = NODE_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Every proposal with its votes and status."""
    items = _listing(client_for(node).proposals, as_json)
    if items is None:
        return
    table = Table("id", "action", "by", "votes", "threshold", "status", "in force from")
    for p in items:
        votes = " ".join(f"{org}{'✓' if yes else '✗'}" for org, yes in sorted(p["votes"].items()))
        table.add_row(
            p["id"][:12] + "…",
            p["action"],
            p["org"],
            votes,
            p["threshold"],
            p["status"],
            str(p["effective_height"] or ""),
        )
    console.print(table)


@proposal_app.command("show")
def proposal_show(
    proposal: str = typer.Argument(..., help="Proposal id (hex)"), node: str = NODE_OPTION
) -> None:
    """One proposal in full (JSON)."""
    try:
        print_json(client_for(node).proposal(proposal))
    except SdkError as exc:
        fail(f"{exc.code}: {exc.message}")


def _show(p: dict[str, object]) -> None:
    votes = p["votes"]
    assert isinstance(votes, dict)
    console.print(f"  action:    {p['action']} {json.dumps(p['args'], ensure_ascii=False)}")
    console.print(
        f"  votes:     {', '.join(f'{o}={v}' for o, v in sorted(votes.items()))} (threshold {p['threshold']})"
    )
    console.print(
        f"  status:    {p['status']}"
        + (f", in force from block {p['effective_height']}" if p.get("effective_height") else "")
    )
    console.print(
        f"  expires:   {time.strftime('%Y-%m-%d %H:%M', time.localtime(int(str(p['expires'])) / 1000))}"
    )
