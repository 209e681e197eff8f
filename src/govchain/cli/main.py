"""`govchain`: run a node, sign and send transactions, verify receipts offline, benchmark."""

from __future__ import annotations

import json
import socket
from collections import Counter
from pathlib import Path

import typer
from rich.panel import Panel
from rich.table import Table

from govchain.cli.bench import bench
from govchain.cli.common import (
    JSON_OPTION,
    NODE_OPTION,
    client_for,
    console,
    default_key_path,
    fail,
    home,
    print_json,
    serve,
    tune_node_process,
)
from govchain.cli.network import network_app
from govchain.contracts.audit.cli import audit_app
from govchain.contracts.governance.cli import proposal_app
from govchain.contracts.licence.cli import licence_app
from govchain.contracts.membership.cli import member_app
from govchain.contracts.notary.cli import notarize
from govchain.crypto import SUITE_NAMES, get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.sdk.client import SdkError
from govchain.verify.receipt import ReceiptUnreadable, load_receipt, verify_receipt

app = typer.Typer(
    help="govchain: a consortium blockchain for digital-government services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Manage signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
consortium_app = typer.Typer(help="Set up a consortium of organisations.", no_args_is_help=True)
app.add_typer(consortium_app, name="consortium")
app.add_typer(member_app, name="member")
app.add_typer(proposal_app, name="proposal")
app.add_typer(audit_app, name="audit")
app.add_typer(licence_app, name="licence")
app.add_typer(network_app, name="network")
app.command()(notarize)
app.command()(bench)


def _check_suite(suite: str) -> str:
    if suite not in SUITE_NAMES:
        fail(f"unknown suite '{suite}'; choose one of: {', '.join(SUITE_NAMES)}", 2)
    return suite


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@app.command()
def up(
    data: Path = typer.Option(None, "--data", help="Data directory (default: ~/.govchain/node)"),
    port: int = typer.Option(8760, "--port", help="API and portal port"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on"),
    suite: str = typer.Option(
        None, "--suite", help="intl or gm; applies only when the chain is first created"
    ),
    consortium: Path = typer.Option(
        None, "--consortium", help="Run on the genesis made by `govchain consortium init` (as org1's peer)"
    ),
) -> None:
    """Start an embedded single-node chain (solo ordering) with its REST API and web portal."""
    import logging

    from govchain.api.app import create_app
    from govchain.contracts import default_registry
    from govchain.node import admission
    from govchain.node.chain import ChainFiles, create_dev_chain, load_genesis
    from govchain.node.node import Node

    if consortium is not None:
        data = data or consortium / "node"
        _adopt_consortium(consortium, data)
    data = data or home() / "node"
    files = ChainFiles(data)
    if not files.exists():
        create_dev_chain(data, _check_suite(suite or "intl"))
        console.print(f"[green]created a new development chain in {data}[/]")
    else:
        existing = load_genesis(data).suite
        if suite and suite != existing:
            fail(
                f"{data} already holds a {existing} chain; --suite applies only to a new chain "
                "(use another --data)"
            )
    if not _port_free(host, port):
        fail(f"port {port} on {host} is already in use (is another node running? try --port)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    node = Node(data, default_registry())
    url = f"http://{host}:{port}"
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for label, value in (
        ("chain", f"{node.genesis.chain_id} ({node.suite.name})"),
        ("genesis hash", node.genesis_hash.hex()),
        ("height", str(node.height)),
        ("data", str(data)),
        ("database", str(files.db)),
        ("node key", str(files.node_key)),
        ("portal", f"{url}/"),
        ("REST API", f"{url}/v1/status  (OpenAPI: {url}/docs)"),
        ("metrics", f"{url}/metrics"),
    ):
        table.add_row(f"[bold]{label}[/]", value)
    console.print(Panel(table, title="govchain node", subtitle="Ctrl+C to stop"))
    tune_node_process()
    node.start()
    admission.warm_up()
    try:
        serve(create_app(node), host, port)
    finally:
        node.stop()
        admission.shutdown()
        console.print("node stopped")


def _adopt_consortium(directory: Path, data: Path) -> None:
    """First run on a consortium: copy its genesis and org1's peer key into the data directory."""
    from govchain.node.chain import ChainFiles, adopt_genesis
    from govchain.node.consortium import GENESIS_FILE, OrgFiles, org_names

    genesis_path = directory / GENESIS_FILE
    if not genesis_path.is_file():
        fail(
            f"{directory} has no {GENESIS_FILE}; create one with: govchain consortium init --out {directory}",
            2,
        )
    files = ChainFiles(data)
    if files.exists():
        if files.genesis.read_bytes() != genesis_path.read_bytes():
            fail(f"{data} already holds a different chain; use another --data")
        return
    first = OrgFiles(org_names(1)[0], directory / org_names(1)[0])
    try:
        adopt_genesis(data, genesis_path.read_bytes(), KeyFile.load(first.key("peer")))
    except (OSError, ValueError) as exc:
        fail(f"cannot start on {directory}: {exc}")
    console.print(
        f"[green]started a node for consortium {directory} in {data} (signing as {first.org_id}'s peer)[/]"
    )


@consortium_app.command("init")
def consortium_init(
    orgs: int = typer.Option(3, "--orgs", min=1, max=64, help="Number of organisations"),
    suite: str = typer.Option("intl", "--suite", help="intl (X.509 P-256) or gm (SM2 certificates)"),
    out: Path = typer.Option(..., "--out", help="Directory to create"),
    chain_id: str = typer.Option("govchain-consortium", "--chain-id", help="Chain name"),
) -> None:
    """Create every organisation's CA, admin and peer certificates and keys, plus the genesis file."""
    from govchain.node.consortium import SUMMARY_FILE, init_consortium

    try:
        genesis = init_consortium(out, orgs, _check_suite(suite), chain_id)
    except (FileExistsError, ValueError) as exc:
        fail(str(exc), 2)
    summary = json.loads((out / SUMMARY_FILE).read_text())
    table = Table("org", "名称", "name", "folder")
    for org in summary["orgs"]:
        table.add_row(org["id"], org["name_zh"], org["name_en"], str(out / org["folder"]))
    console.print(table)
    console.print(f"chain {genesis.chain_id} ({genesis.suite}), genesis hash {summary['genesis_hash']}")
    console.print("private keys are in each org's folder with mode 0600; keep the ca-key.json files offline")
    console.print(f"start it on this machine with: govchain up --consortium {out}")


@consortium_app.command("orgs")
def consortium_orgs(node: str = NODE_OPTION, as_json: bool = JSON_OPTION) -> None:
    """The organisations in force on a running node, with their CAs, peers and members by role."""
    from govchain.node.receipts import iso_time

    client = client_for(node)
    try:
        orgs, members = client.orgs(), client.members()
    except SdkError as exc:
        fail(f"{exc.code}: {exc.message}")
    roles: dict[str, Counter[str]] = {}
    for m in members:
        if not m["revoked"]:
            roles.setdefault(m["org"], Counter())[m["role"]] += 1
    if as_json:
        print_json([org | {"members": dict(roles.get(org["id"], {}))} for org in orgs])
        return
    if not orgs:
        console.print("a development chain: no organisations (any key may transact)")
        return
    table = Table("org", "名称", "name", "CA", "CA valid until", "peers", "members")
    for org in orgs:
        counts = roles.get(org["id"], Counter())
        table.add_row(
            org["id"],
            org["name_zh"],
            org["name_en"],
            org["ca_subject"],
            iso_time(org["ca_not_after"])[:10],
            str(len(org["peers"])),
            ", ".join(f"{role} {n}" for role, n in sorted(counts.items())) or "-",
        )
    console.print(table)


@keys_app.command("new")
def keys_new(
    suite: str = typer.Option("intl", "--suite", help="intl or gm"),
    out: Path = typer.Option(None, "--out", help="Key file (default: ~/.govchain/keys/<suite>.json)"),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing key file"),
) -> None:
    """Create a signing key (file mode 0600) and print its public key."""
    target = out or default_key_path(_check_suite(suite))
    if target.exists():
        if not force:
            fail(f"{target} already exists (use --force to replace it, or --out for another file)")
        target.unlink()
    key = KeyFile.generate(get_suite(suite))
    key.save(target)
    console.print(f"key file:   {target}")
    console.print(f"suite:      {suite}")
    console.print(f"public key: {key.keys.public.hex()}")


@app.command()
def verify(
    receipt: Path = typer.Argument(..., help="Receipt JSON file"),
    file: Path = typer.Argument(None, help="The notarised file, to check it is unchanged"),
    chain: str = typer.Option(None, "--chain", help="Genesis hash (hex) of the chain you trust"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Verify a receipt offline, with no node. Exit 0 valid, 1 invalid (names the check), 2 unreadable."""
    try:
        parsed = load_receipt(receipt.read_bytes())
        file_bytes = file.read_bytes() if file is not None else None
        trusted = bytes.fromhex(chain) if chain else None
        if trusted is not None and len(trusted) != 32:
            raise ValueError("--chain must be a 32-byte genesis hash (64 hex digits)")
        verdict = verify_receipt(parsed, file_bytes, trusted)
    except (OSError, ReceiptUnreadable, ValueError) as exc:
        if as_json:
            print_json({"valid": False, "failure": "unreadable", "message": str(exc)})
        else:
            console.print(f"[bold red]UNREADABLE[/] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        print_json(
            {"valid": verdict.ok, "failure": verdict.failure, "message": verdict.message, **verdict.facts}
        )
    elif verdict.ok:
        f = verdict.facts
        console.print("[bold green]VALID[/]")
        console.print(f"  chain:   {f['chain_id']} (genesis {f['genesis_hash']})")
        console.print(f"  block:   {f['height']} at {_iso(f['time_ms'])}, signed by {f['signers']} signer(s)")
        console.print(f"  tx:      {f['tx_id']}")
        if f.get("digest"):
            console.print(f"  digest:  {f['digest']}" + ("  (file matches)" if file is not None else ""))
        if chain is None:
            console.print(
                "  [dim]tip: pass --chain <genesis hash> to also check it is the chain you trust[/]"
            )
    else:
        console.print(f"[bold red]INVALID[/] ({verdict.failure}): {verdict.message}")
    raise typer.Exit(0 if verdict.ok else 1)


def _iso(ms: int) -> str:
    from govchain.node.receipts import iso_time

    return iso_time(ms)


@app.command()
def status(node: str = NODE_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Show the chain's height, size and identity."""
    try:
        info = client_for(node).status()
    except SdkError as exc:
        fail(exc.message)
    if as_json:
        print_json(info)
        return
    table = Table(show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for key in (
        "chain_id",
        "suite",
        "height",
        "tx_count",
        "pending",
        "latest_hash",
        "genesis_hash",
        "healthy",
    ):
        table.add_row(key, str(info[key]))
    console.print(table)


@app.command()
def block(
    height: str = typer.Argument(..., help="Height, block hash, or 'latest'"), node: str = NODE_OPTION
) -> None:
    """Show one block: header, signatures and transaction ids (JSON)."""
    try:
        print_json(client_for(node).block(height))
    except SdkError as exc:
        fail(f"{exc.code}: {exc.message}")


@app.command()
def tx(
    tx_hash: str = typer.Argument(..., metavar="HASH", help="Transaction id (hex)"), node: str = NODE_OPTION
) -> None:
    """Show one committed transaction, decoded, with its result (JSON)."""
    try:
        print_json(client_for(node).tx(tx_hash))
    except SdkError as exc:
        fail(f"{exc.code}: {exc.message}")


if __name__ == "__main__":
    app()
