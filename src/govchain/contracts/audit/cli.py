"""`govchain audit ...`: read restricted data (each read is recorded on chain) and the access log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from govchain.cli.common import JSON_OPTION, NODE_OPTION, client_for, console, fail, print_json
from govchain.sdk.client import SdkError

audit_app = typer.Typer(
    help="Restricted reads: each one is a signed transaction, recorded on chain.", no_args_is_help=True
)

KEY_OPTION = typer.Option(None, "--key", help="The reader's key file (a member's key on a consortium chain)")
PURPOSE_OPTION = typer.Option(..., "--purpose", help="Why you read this (recorded on chain with the read)")


def _read(
    node: str | None, key: Path | None, contract: str, query: str, args: dict[str, Any], purpose: str
) -> Any:
    client = client_for(node, key, with_key=True)
    try:
        return client.read(contract, query, args, purpose)
    except SdkError as exc:
        fail(f"read refused: {exc.code}: {exc.message}")


@audit_app.command("read")
def audit_read(
    contract: str = typer.Argument(..., help="Contract, e.g. notary"),
    query: str = typer.Argument(..., help="Restricted query, e.g. by_org"),
    args: str = typer.Option("{}", "--args", help='JSON arguments, e.g. \'{"org": "org2"}\''),
    purpose: str = PURPOSE_OPTION,
    key: Path = KEY_OPTION,
    node: str = NODE_OPTION,
) -> None:
    """Run a restricted query; the chain checks your right and records the read first."""
    try:
        parsed = json.loads(args)
    except ValueError as exc:
        fail(f"--args is not JSON: {exc}", 2)
    if not isinstance(parsed, dict):
        fail("--args must be a JSON object", 2)
    print_json(_read(node, key, contract, query, parsed, purpose))


@audit_app.command("log")
def audit_log(
    purpose: str = PURPOSE_OPTION,
    org: str = typer.Option(None, "--org", help="Only reads by members of this organisation"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    key: Path = KEY_OPTION,
    node: str = NODE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Who read which restricted data, why and when, newest first (this read is recorded too)."""
    args: dict[str, Any] = {"limit": limit} | ({"org": org} if org else {})
    entries = _read(node, key, "audit", "access_log", args, purpose)
    if as_json:
        print_json(entries)
        return
    table = Table("height", "time (UTC)", "org", "role", "read", "purpose")
    for e in entries:
        when = datetime.fromtimestamp(e["t"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            str(e["height"]),
            when,
            e["org"],
            e["role"],
            f"{e['contract']}.{e['query']} {json.dumps(e['args'], ensure_ascii=False)}",
            e["purpose"],
        )
    console.print(table)
