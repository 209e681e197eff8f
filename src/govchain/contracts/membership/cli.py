"""`govchain member ...`: issue a member certificate and enrol it, revoke one, list members."""

from __future__ import annotations

import re
import time
from pathlib import Path

import typer
from rich.table import Table

from govchain.cli.common import NODE_OPTION, client_for, console, fail, print_json
from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import ROLES, Certificate, issue
from govchain.ledger.blocks import Genesis
from govchain.node.consortium import GENESIS_FILE, OrgFiles
from govchain.sdk.client import Client, SdkError

member_app = typer.Typer(help="Members of a consortium's organisations.", no_args_is_help=True)

CONSORTIUM_OPTION = typer.Option(..., "--consortium", help="Directory made by `govchain consortium init`")
DAY_MS = 24 * 3600 * 1000


def _org_files(consortium: Path, org: str) -> tuple[Genesis, OrgFiles]:
    genesis_path = consortium / GENESIS_FILE
    if not genesis_path.is_file():
        fail(f"{consortium} has no {GENESIS_FILE} (make one with: govchain consortium init)", 2)
    files = OrgFiles(org, consortium / org)
    if not files.ca.is_file():
        fail(f"no organisation '{org}' in {consortium}", 2)
    return Genesis.decode(genesis_path.read_bytes()), files


def _stem(name: str, serial: int) -> str:
    ascii_name = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")
    return ascii_name or f"member-{serial:x}"[:24]


def _enrol(client: Client, cert: Certificate) -> None:
    try:
        client.call("membership", "enroll", {"cert": cert.der})
    except SdkError as exc:
        fail(f"enrolment refused: {exc.code}: {exc.message}")


def admin_client(consortium: Path, org: str, node: str | None) -> Client:
    """A client signing as ORG's admin (from the consortium folder), enrolled first if it is not yet."""
    _, files = _org_files(consortium, org)
    admin = KeyFile.load(files.key("admin"))
    client = client_for(node)
    client.key = admin.keys
    try:
        enrolled = any(m["key"] == admin.keys.public.hex() for m in client.members(org))
    except SdkError as exc:
        fail(f"{exc.code}: {exc.message}")
    if not enrolled:
        _enrol(client, Certificate.load(files.cert("admin").read_bytes()))
    return client


@member_app.command("issue")
def member_issue(
    org: str = typer.Option(..., "--org", help="Organisation id, e.g. org2"),
    role: str = typer.Option(..., "--role", help=f"One of: {', '.join(ROLES)}"),
    name: str = typer.Option(..., "--name", help="The member's name (CN), e.g. 市场监管局"),
    consortium: Path = CONSORTIUM_OPTION,
    days: int = typer.Option(365, "--days", min=1, max=3650, help="Certificate validity"),
    node: str = NODE_OPTION,
) -> None:
    """Issue a certificate with the organisation's CA for a new key, and enrol it on chain."""
    if role not in ROLES:
        fail(f"unknown role '{role}'; choose one of: {', '.join(ROLES)}", 2)
    genesis, files = _org_files(consortium, org)
    suite = get_suite(genesis.suite)
    ca = Certificate.load(files.ca.read_bytes())
    ca_key = KeyFile.load(files.key("ca"))
    key = KeyFile.generate(suite)
    now = int(time.time() * 1000)
    try:
        cert = issue(
            suite, ca, ca_key.keys.private, key.keys.public, org, role, name, now, now + days * DAY_MS
        )
    except ValueError as exc:
        fail(str(exc), 2)
    members = files.folder / "members"
    members.mkdir(mode=0o700, exist_ok=True)
    stem = _stem(name, cert.serial)
    n = 1
    while (members / f"{stem}.pem").exists():
        n += 1
        stem = f"{_stem(name, cert.serial)}-{n}"
    key.save(members / f"{stem}-key.json")
    (members / f"{stem}.pem").write_bytes(cert.to_pem())
    client = client_for(node)
    client.key = key.keys
    _enrol(client, cert)
    console.print(f"[green]enrolled[/] {name} as {role} of {org}")
    console.print(f"  key file:    {members / f'{stem}-key.json'} (mode 0600)")
    console.print(f"  certificate: {members / f'{stem}.pem'} (serial {cert.serial})")
    console.print(f"  public key:  {key.keys.public.hex()}")
    console.print(f"  use it with: --key {members / f'{stem}-key.json'}")


@member_app.command("revoke")
def member_revoke(
    org: str = typer.Option(..., "--org", help="The organisation whose admin revokes"),
    key: str = typer.Option(None, "--key", help="The member's public key (hex)"),
    cert: Path = typer.Option(None, "--cert", help="…or the member's certificate (PEM)"),
    reason: str = typer.Option(..., "--reason", help="Why (recorded on chain)"),
    consortium: Path = CONSORTIUM_OPTION,
    node: str = NODE_OPTION,
) -> None:
    """Revoke a member of ORG, signed by ORG's admin (enrolled first if needed)."""
    if (key is None) == (cert is None):
        fail("give exactly one of --key or --cert", 2)
    try:
        target = bytes.fromhex(key) if key else Certificate.load(cert.read_bytes()).public_key  # type: ignore[union-attr]
    except (ValueError, OSError) as exc:
        fail(f"cannot read the member to revoke: {exc}", 2)
    client = admin_client(consortium, org, node)
    try:
        client.call("membership", "revoke", {"key": target, "reason": reason})
    except SdkError as exc:
        fail(f"revocation refused: {exc.code}: {exc.message}")
    console.print(f"[green]revoked[/] {target.hex()[:16]}… ({reason})")


@member_app.command("list")
def member_list(
    org: str = typer.Option(None, "--org", help="Only this organisation"),
    node: str = NODE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """List enrolled members, their roles and whether they are revoked."""
    try:
        members = client_for(node).members(org)
    except SdkError as exc:
        fail(f"{exc.code}: {exc.message}")
    if as_json:
        print_json(members)
        return
    table = Table("org", "role", "name", "serial", "revoked")
    table.add_column("key", overflow="fold")
    for m in members:
        table.add_row(
            m["org"], m["role"], m["name"], str(m["serial"]), "yes" if m["revoked"] else "", m["key"]
        )
    console.print(table)
