"""`govchain licence ...`: the catalogue, issuing and lifecycle, authorised use, status and audit."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from govchain.cli.common import JSON_OPTION, NODE_OPTION, client_for, console, fail, print_json
from govchain.contracts.governance.cli import DELAY_OPTION, TTL_OPTION, propose
from govchain.contracts.licence.client import (
    LicenceClient,
    bundle_file,
    presented_from_json,
    presented_to_json,
)
from govchain.contracts.licence.model import DAY_MS, TRANSITIONS, parse_type
from govchain.contracts.membership.cli import CONSORTIUM_OPTION
from govchain.crypto.keyfile import KeyFile
from govchain.sdk.client import SdkError

licence_app = typer.Typer(help="E-licences (电子证照): issue, authorise use, verify.", no_args_is_help=True)

KEY_OPTION = typer.Option(None, "--key", help="Your member key file (issuer, relying party, regulator...)")
REASON_OPTION = typer.Option(..., "--reason", help="Why (recorded on chain)")
PORTAL_OPTION = typer.Option(
    None, "--portal", help="The portal address the licence file's QR code opens (default: the node's)"
)
PDF_OPTION = typer.Option(None, "--pdf", help="Where to write the new version's licence file (PDF)")


def _licences(
    node: str | None, key: Path | None = None, with_key: bool = False, portal: str | None = None
) -> LicenceClient:
    return LicenceClient(client_for(node, key, with_key=with_key), portal)


def _json_file(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"cannot read {what} {path}: {exc}", 2)


def _write_secret(path: Path, value: Any) -> None:
    """Bundles and authorisations hold personal data: mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2), encoding="utf-8")


def _refused(exc: SdkError) -> None:
    fail(f"refused: {exc.code}: {exc.message}")


@licence_app.command("type-propose")
def type_propose(
    code: str = typer.Option(..., "--code", help="Type code, e.g. BL"),
    doc: Path = typer.Option(..., "--doc", help="The type's JSON document (docs/licences.md)"),
    org: str = typer.Option(..., "--org", help="The proposing organisation (signs as its admin)"),
    consortium: Path = CONSORTIUM_OPTION,
    delay: int = DELAY_OPTION,
    ttl_hours: float = TTL_OPTION,
    node: str = NODE_OPTION,
) -> None:
    """Propose registering (or replacing) a licence type; other organisations vote with `proposal vote`."""
    document = _json_file(doc, "type document")
    try:
        parse_type(code, document)
    except ValueError as exc:
        fail(f"the type document is not valid: {exc}", 2)
    args = {"kind": "licence_type", "id": code, "doc": document}
    proposal = propose("register", args, org, consortium, f"licence type {code}", delay, ttl_hours, node)
    console.print(f"other organisations vote with: govchain proposal vote {proposal.hex()} --org ORG")


@licence_app.command("types")
def types(node: str = NODE_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Licence types in force (证照目录)."""
    try:
        found = _licences(node).types()
    except SdkError as exc:
        _refused(exc)
    if as_json:
        print_json(found)
        return
    table = Table("code", "名称", "name", "issuers", "fields", "personal", "validity (days)")
    for t in found:
        if "unusable" in t:
            table.add_row(t["code"], "", f"unusable: {t['unusable']}", "", "", "", "")
            continue
        fields = ", ".join(t["schema"]["properties"])
        table.add_row(
            t["code"], t["name_zh"], t["name_en"], ", ".join(t["issuers"]), fields,
            ", ".join(t["personal"]), str(t["validity_days"] or "-"),
        )  # fmt: skip
    console.print(table)


def _holder_key_file(path: Path, suite: str) -> KeyFile:
    try:
        key = KeyFile.load(path)
    except (OSError, ValueError) as exc:
        fail(f"cannot read the holder key {path}: {exc}", 2)
    if key.suite != suite:
        fail(
            f"{path} holds a {key.suite} key but the chain uses {suite} (govchain keys new --suite {suite})",
            2,
        )
    return key


def _holder_public(value: str, suite: str) -> bytes:
    path = Path(value)
    if path.is_file():
        return _holder_key_file(path, suite).keys.public
    try:
        return bytes.fromhex(value)
    except ValueError:
        fail("--holder-key is the holder's key file or public key (hex)", 2)


@licence_app.command("issue")
def issue(
    type_code: str = typer.Option(..., "--type", help="Licence type code"),
    fields: Path = typer.Option(..., "--fields", help="JSON file with the licence data"),
    holder_code: str = typer.Option(..., "--holder-code", help="Unified social credit code or ID number"),
    holder_key: str = typer.Option(..., "--holder-key", help="The holder's key file or public key (hex)"),
    valid_days: int = typer.Option(
        None, "--valid-days", min=1, help="Validity (default: the type's longest)"
    ),
    file: Path = typer.Option(
        None, "--file", help="A licence file rendered elsewhere (its digest goes on chain; no PDF is made)"
    ),
    pdf: Path = typer.Option(None, "--pdf", help="Where to write the rendered licence file (PDF, mode 0600)"),
    portal: str = PORTAL_OPTION,
    deposit: bool = typer.Option(
        True, "--deposit/--no-deposit", help="Keep the data encrypted in this node's private store"
    ),
    out: Path = typer.Option(..., "--out", help="Where to write the holder's licence bundle (mode 0600)"),
    key: Path = KEY_OPTION,
    node: str = NODE_OPTION,
) -> None:
    """Issue a licence: only digests and a salted holder commitment go on chain."""
    data = _json_file(fields, "licence data")
    licences = _licences(node, key, with_key=True, portal=portal)
    public = _holder_public(holder_key, licences.suite.name)
    try:
        until = None if valid_days is None else int(time.time() * 1000) + valid_days * DAY_MS
        bundle = licences.issue(
            type_code, data, holder_code, public, valid_until=until,
            file_bytes=file.read_bytes() if file else None, deposit=deposit,
        )  # fmt: skip
    except SdkError as exc:
        _refused(exc)
    _write_secret(out, bundle)
    console.print(
        f"[green]issued[/] {bundle['licence']} (version {bundle['version']}) to {bundle['holder_did']}"
    )
    console.print(f"  holder's bundle: {out} (mode 0600: it holds personal data; deliver it to the holder)")
    _write_pdf(pdf, bundle)


def _write_pdf(path: Path | None, bundle: dict[str, Any]) -> None:
    """The licence file the bundle carries (it shows the licence's data: mode 0600)."""
    data = bundle_file(bundle)
    if path is None or data is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)
    console.print(f"  licence file: {path} (version {bundle['version']}, digest on chain)")


def _transition_command(operation: str) -> None:
    def command(
        licence: str = typer.Argument(..., help="Licence id"),
        reason: str = REASON_OPTION,
        key: Path = KEY_OPTION,
        node: str = NODE_OPTION,
        valid_days: int = typer.Option(None, "--valid-days", min=1, help="renew: the new validity"),
    ) -> None:
        extra: dict[str, Any] = {}
        if operation == "renew":
            if valid_days is None:
                fail("renew needs --valid-days", 2)
            extra["valid_until"] = int(time.time() * 1000) + valid_days * DAY_MS
        try:
            result = _licences(node, key, with_key=True).transition(operation, licence, reason, **extra)
        except SdkError as exc:
            _refused(exc)
        console.print(f"{licence}: {operation} -> {result['status']} (version {result['version']})")

    command.__doc__ = f"{operation.capitalize()} a licence (issuer of the issuing organisation)."
    licence_app.command(operation)(command)


for _operation in TRANSITIONS:
    if _operation not in ("change", "renew"):
        _transition_command(_operation)


@licence_app.command("renew")
def renew(
    licence: str = typer.Argument(..., help="Licence id"),
    reason: str = REASON_OPTION,
    valid_days: int = typer.Option(..., "--valid-days", min=1, help="The new validity, from now"),
    bundle: Path = typer.Option(
        None, "--bundle", help="The current bundle: the new version gets its licence file (needs --out)"
    ),
    out: Path = typer.Option(None, "--out", help="Where to write the new bundle"),
    pdf: Path = PDF_OPTION,
    portal: str = PORTAL_OPTION,
    key: Path = KEY_OPTION,
    node: str = NODE_OPTION,
) -> None:
    """延续/换证: a new validity as a new version (issuer of the issuing organisation)."""
    until = int(time.time() * 1000) + valid_days * DAY_MS
    licences = _licences(node, key, with_key=True, portal=portal)
    if bundle is None:
        try:
            result = licences.transition("renew", licence, reason, valid_until=until)
        except SdkError as exc:
            _refused(exc)
        console.print(f"{licence}: renew -> {result['status']} (version {result['version']})")
        return
    if out is None:
        fail("with --bundle, --out names where the new bundle goes", 2)
    current = _json_file(bundle, "bundle")
    if current.get("licence") != licence:
        fail(f"{bundle} is not a bundle of {licence}", 2)
    try:
        new = licences.renew(current, until, reason)
    except SdkError as exc:
        _refused(exc)
    _write_secret(out, new)
    console.print(f"{licence}: renewed, now version {new['version']}; new bundle {out}")
    _write_pdf(pdf, new)


@licence_app.command("change")
def change(
    bundle: Path = typer.Option(..., "--bundle", help="The current licence bundle"),
    fields: Path = typer.Option(..., "--fields", help="JSON file with the new licence data"),
    reason: str = REASON_OPTION,
    out: Path = typer.Option(..., "--out", help="Where to write the new bundle"),
    pdf: Path = PDF_OPTION,
    portal: str = PORTAL_OPTION,
    key: Path = KEY_OPTION,
    node: str = NODE_OPTION,
) -> None:
    """变更: new data in a new version that supersedes the old one, with its licence file."""
    current, data = _json_file(bundle, "bundle"), _json_file(fields, "licence data")
    try:
        new = _licences(node, key, with_key=True, portal=portal).change(current, data, reason)
    except SdkError as exc:
        _refused(exc)
    _write_secret(out, new)
    console.print(f"{new['licence']}: changed, now version {new['version']}; new bundle {out}")
    _write_pdf(pdf, new)


@licence_app.command("authorise")
def authorise(
    bundle: Path = typer.Option(..., "--bundle", help="Your licence bundle"),
    holder_key: Path = typer.Option(..., "--holder-key", help="Your holder key file"),
    org: str = typer.Option(..., "--org", help="The relying party (organisation id)"),
    service: str = typer.Option(..., "--service", help="The service item, e.g. 开办企业"),
    fields: str = typer.Option(..., "--fields", help="Comma-separated fields it may see"),
    hours: float = typer.Option(24.0, "--hours", min=0.01, max=24 * 365, help="How long it is valid"),
    multi_use: bool = typer.Option(False, "--multi-use", help="Allow repeated use (default: one use)"),
    out: Path = typer.Option(..., "--out", help="Where to write the authorisation (give it to the party)"),
    node: str = NODE_OPTION,
) -> None:
    """用证授权: as the holder, authorise one relying party to use your licence (signed offline)."""
    data = _json_file(bundle, "bundle")
    licences = _licences(node)
    try:
        keys = _holder_key_file(holder_key, licences.suite.name).keys
    except SdkError as exc:
        _refused(exc)
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    try:
        presented = licences.authorise(
            keys, data, org, service, wanted, int(hours * 3600_000), one_time=not multi_use
        )
    except SdkError as exc:
        _refused(exc)
    _write_secret(out, presented_to_json(presented))
    console.print(f"authorised {org} for '{service}' to see {', '.join(sorted(wanted))}: {out}")


@licence_app.command("use")
def use(
    authorisation: Path = typer.Argument(..., help="The holder's authorisation file"),
    key: Path = KEY_OPTION,
    node: str = NODE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """As the relying party: record the use on chain, then check the disclosed fields against it."""
    try:
        presented = presented_from_json(_json_file(authorisation, "authorisation"))
    except (KeyError, TypeError, ValueError) as exc:
        fail(f"not an authorisation file: {exc}", 2)
    try:
        result = _licences(node, key, with_key=True).use(presented)
    except SdkError as exc:
        _refused(exc)
    header = f"[green]use recorded[/] for {result['licence']} (version {result['version']}) in {result['tx']}"
    _print_fields(result, header, as_json)


@licence_app.command("fetch")
def fetch(
    licence: str = typer.Argument(..., help="Licence id"),
    use_tx: str = typer.Option(..., "--use", help="The use transaction (`licence use` prints it)"),
    key: Path = KEY_OPTION,
    node: str = NODE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """As the relying party, after `use`: fetch the authorised fields from the issuing node."""
    try:
        result = _licences(node, key, with_key=True).fetch(licence, bytes.fromhex(use_tx))
    except ValueError:
        fail("--use is the use transaction's id (hex)", 2)
    except SdkError as exc:
        _refused(exc)
    _print_fields(result, f"{licence} (version {result['version']}) for '{result['service']}'", as_json)


def _print_fields(result: dict[str, Any], header: str, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    console.print(f"{header}; fields, verified against the chain:")
    for name, value in result["fields"].items():
        console.print(f"  {name}: {value}")


@licence_app.command("status")
def status(
    licence: str = typer.Argument(..., help="Licence id"),
    version: int = typer.Option(None, "--version", min=1),
    node: str = NODE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Public check: valid, suspended, revoked, cancelled, expired or superseded."""
    try:
        found = _licences(node).status(licence, version)
    except SdkError as exc:
        _refused(exc)
    if as_json:
        print_json(found)
        return
    console.print(
        f"{found['id']} version {found['version']} of {found['current_version']}: [bold]{found['status']}[/]"
    )


@licence_app.command("history")
def history(licence: str = typer.Argument(...), node: str = NODE_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Every lifecycle event of a licence."""
    try:
        events = _licences(node).history(licence)
    except SdkError as exc:
        _refused(exc)
    if as_json:
        print_json(events)
        return
    table = Table("op", "version", "status", "reason", "time (ms)")
    for e in events:
        table.add_row(e["op"], str(e["version"]), e["status"], e["reason"], str(e["t"]))
    console.print(table)


@licence_app.command("uses")
def uses(
    org: str = typer.Option(..., "--org", help="The issuing organisation"),
    purpose: str = typer.Option(..., "--purpose", help="Why you read this (recorded on chain)"),
    licence: str = typer.Option(None, "--licence", help="Only this licence"),
    key: Path = KEY_OPTION,
    node: str = NODE_OPTION,
) -> None:
    """Recorded uses of an organisation's licences (it, or a regulator; the read is recorded)."""
    try:
        print_json(_licences(node, key, with_key=True).uses(org, purpose, licence))
    except SdkError as exc:
        _refused(exc)


@licence_app.command("personal")
def personal(
    licence: str = typer.Argument(..., help="Licence id"),
    org: str = typer.Option(..., "--org", help="The issuing organisation"),
    purpose: str = typer.Option(..., "--purpose", help="Why you read personal data (recorded on chain)"),
    key: Path = KEY_OPTION,
    node: str = NODE_OPTION,
) -> None:
    """Read a licence's full data, personal fields included, from the issuing node (recorded on chain)."""
    try:
        print_json(_licences(node, key, with_key=True).personal(licence, org, purpose))
    except SdkError as exc:
        _refused(exc)


@licence_app.command("stats")
def stats(
    purpose: str = typer.Option(..., "--purpose", help="Why you read this (recorded on chain)"),
    org: str = typer.Option(None, "--org"),
    key: Path = KEY_OPTION,
    node: str = NODE_OPTION,
) -> None:
    """Counts per organisation, type, operation and day (regulators, auditors; the read is recorded)."""
    try:
        print_json(_licences(node, key, with_key=True).stats(purpose, org))
    except SdkError as exc:
        _refused(exc)


@licence_app.command("verify")
def verify(
    file: Path = typer.Argument(..., help="A licence file (PDF)"),
    licence: str = typer.Option(None, "--id", help="The licence it must be (default: the one it names)"),
    node: str = NODE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Check a licence file against the chain: which version it is, and that version's status.

    The file is hashed here, never sent. Exit 0 if it is a valid licence's current version,
    1 if not (suspended, superseded, file_mismatch...), 2 if unreadable.
    """
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc}", 2)
    try:
        verdict = _licences(node).verify_file(data, licence)
    except SdkError as exc:
        _refused(exc)
    if as_json:
        print_json(verdict.to_json())
    elif verdict.ok:
        console.print(f"[green]VALID[/] ({verdict.code}): {verdict.message}")
    else:
        console.print(f"[red]NOT VALID[/] ({verdict.code}): {verdict.message}")
    if not verdict.ok:
        raise typer.Exit(1)


@licence_app.command("file")
def licence_file(
    licence: str = typer.Argument(..., help="Licence id"),
    org: str = typer.Option(..., "--org", help="The issuing organisation"),
    purpose: str = typer.Option(..., "--purpose", help="Why you read it (recorded on chain)"),
    out: Path = typer.Option(..., "--out", help="Where to write the licence file (PDF, mode 0600)"),
    key: Path = KEY_OPTION,
    node: str = NODE_OPTION,
) -> None:
    """Get a licence's rendered file back from the issuing node's private store (the issuing
    organisation's issuers, admins and auditors, or a regulator; the read is recorded on chain)."""
    try:
        found = _licences(node, key, with_key=True).personal(licence, org, purpose)
    except SdkError as exc:
        _refused(exc)
    if "file" not in found:
        fail(f"the issuing node holds no licence file for {licence} version {found['version']}")
    _write_pdf(out, found)


@licence_app.command("export-vc")
def export_vc(
    bundle: Path = typer.Option(..., "--bundle", help="The licence bundle"),
    out: Path = typer.Option(..., "--out", help="Where to write the credential (it holds the licence data)"),
    key: Path = KEY_OPTION,
    node: str = NODE_OPTION,
) -> None:
    """As the issuer: export a licence as a W3C Verifiable Credential 2.0, signed with your key."""
    data = _json_file(bundle, "bundle")
    try:
        vc = _licences(node, key, with_key=True).export_vc(data)
    except SdkError as exc:
        _refused(exc)
    _write_secret(out, vc)
    console.print(f"credential {vc['id']} written to {out}")


@licence_app.command("verify-vc")
def verify_vc(
    credential: Path = typer.Argument(..., help="A licence credential (JSON)"),
    node: str = NODE_OPTION,
) -> None:
    """Check a licence credential: proof, issuer on chain, validity, status lists, schema, digest.

    Exit 0 if valid, 1 if not (naming the failed check), 2 if unreadable.
    """
    vc = _json_file(credential, "credential")
    try:
        verdict = _licences(node).verify_vc(vc)
    except SdkError as exc:
        fail(f"{exc.code}: {exc.message}", 2 if exc.code == "malformed" else 1)
    if verdict.ok:
        console.print(f"[green]VALID[/] {vc['id']}")
        return
    console.print(f"[red]INVALID[/] ({verdict.check}): {verdict.message}")
    raise typer.Exit(1)


@licence_app.command("proof")
def proof(
    licence: str = typer.Argument(..., help="Licence id"),
    out: Path = typer.Option(..., "--out", help="Where to write the status proof (JSON)"),
    node: str = NODE_OPTION,
) -> None:
    """Fetch an offline status proof: the licence's record under the latest final block."""
    try:
        found = _licences(node).client.get(f"/v1/licences/{licence}/proof")
    except SdkError as exc:
        _refused(exc)
    out.write_text(json.dumps(found, indent=2), encoding="utf-8")
    console.print(f"status proof of {licence} at block {found['block']['height']} written to {out}")


@licence_app.command("verify-status")
def verify_status(
    proof_file: Path = typer.Argument(..., help="A status proof (`govchain licence proof`)"),
    licence: str = typer.Option(None, "--licence", help="The licence it must be for (default: the proof's)"),
    chain: str = typer.Option(None, "--chain", help="Genesis hash of the chain you trust"),
    max_age_hours: float = typer.Option(None, "--max-age-hours", min=0, help="Refuse older proofs"),
    bundle: Path = typer.Option(None, "--bundle", help="Also check that this bundle is the current version"),
) -> None:
    """Offline, with no node: the licence's status as of the proof's block.

    Exit 0 if the proof verifies and the licence is valid, 1 if not (naming the check), 2 if unreadable.
    """
    from govchain.contracts.licence.proof import check_status_proof
    from govchain.verify.receipt import ReceiptUnreadable
    from govchain.verify.state import load_state_proof

    try:
        document = load_state_proof(proof_file.read_bytes())
        lid = licence or bytes.fromhex(document["key"]).decode().removeprefix("licence/l/")
        trusted = bytes.fromhex(chain) if chain else None
        data = _json_file(bundle, "bundle") if bundle else None
        max_age = None if max_age_hours is None else int(max_age_hours * 3_600_000)
        verdict = check_status_proof(document, lid, int(time.time() * 1000), trusted, max_age, data)
    except (OSError, ReceiptUnreadable, ValueError, KeyError, UnicodeDecodeError) as exc:
        fail(f"cannot read the proof: {exc}", 2)
    when = ""
    if verdict.time_ms is not None:
        from govchain.contracts.licence.vc import iso

        when = f" (block {verdict.height}, {iso(verdict.time_ms)})"
    if verdict.ok:
        console.print(f"[green]VALID[/] {verdict.message}{when}")
        return
    console.print(f"[red]NOT VALID[/] ({verdict.check}): {verdict.message}{when}")
    raise typer.Exit(1)
