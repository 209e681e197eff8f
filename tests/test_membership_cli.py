"""`govchain member issue / revoke / list` against a real consortium node, as in docs/governance.md."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from govchain.cli.main import app
from govchain.crypto.keyfile import KeyFile
from govchain.node.chain import adopt_genesis
from govchain.node.consortium import GENESIS_FILE, init_consortium
from tests.test_crash import free_port, start_node

pytestmark = pytest.mark.slow


@pytest.fixture
def consortium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    out = tmp_path / "cons"
    init_consortium(out, 3, "gm")
    data = tmp_path / "node"
    adopt_genesis(data, (out / GENESIS_FILE).read_bytes(), KeyFile.load(out / "org1" / "peer-key.json"))
    port = free_port()
    proc = start_node(data, port, tmp_path / "node.log")
    monkeypatch.setenv("GOVCHAIN_NODE", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("GOVCHAIN_HOME", str(tmp_path / "home"))
    try:
        yield out
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_issue_use_revoke(consortium: Path, tmp_path: Path) -> None:
    cli = CliRunner()
    issued = cli.invoke(
        app,
        [
            "member",
            "issue",
            "--consortium",
            str(consortium),
            "--org",
            "org2",
            "--role",
            "issuer",
            "--name",
            "市场监管局",
        ],
    )
    assert issued.exit_code == 0, issued.output
    members = consortium / "org2" / "members"
    key_file = next(members.glob("*-key.json"))
    cert_file = next(members.glob("*.pem"))
    doc = tmp_path / "licence.txt"
    doc.write_text("营业执照")
    ok = cli.invoke(app, ["notarize", str(doc), "--key", str(key_file), "--out", str(tmp_path / "r")])
    assert ok.exit_code == 0, ok.output
    outsider = cli.invoke(
        app, ["notarize", str(doc), "--out", str(tmp_path / "r2")]
    )  # a fresh, unenrolled key
    assert outsider.exit_code == 1 and "not_a_member" in outsider.output
    wrong_org = cli.invoke(
        app,
        [
            "member",
            "revoke",
            "--consortium",
            str(consortium),
            "--org",
            "org1",
            "--cert",
            str(cert_file),
            "--reason",
            "not yours",
        ],
    )
    assert wrong_org.exit_code == 1 and "forbidden" in wrong_org.output
    revoked = cli.invoke(
        app,
        [
            "member",
            "revoke",
            "--consortium",
            str(consortium),
            "--org",
            "org2",
            "--cert",
            str(cert_file),
            "--reason",
            "left the agency",
        ],
    )
    assert revoked.exit_code == 0, revoked.output
    refused = cli.invoke(app, ["notarize", str(doc), "--key", str(key_file), "--out", str(tmp_path / "r3")])
    assert refused.exit_code == 1 and "member_revoked" in refused.output.replace("\n", " ")
    listing = cli.invoke(app, ["member", "list", "--org", "org2", "--json"])
    entries = {m["name"]: m for m in json.loads(listing.output)}
    assert entries["市场监管局"]["revoked"] is True and entries["org2 admin"]["role"] == "admin"


def test_member_issue_input_errors(consortium: Path) -> None:
    cli = CliRunner()
    bad_role = cli.invoke(
        app,
        [
            "member",
            "issue",
            "--consortium",
            str(consortium),
            "--org",
            "org2",
            "--role",
            "king",
            "--name",
            "x",
        ],
    )
    assert bad_role.exit_code == 2 and "unknown role" in bad_role.output
    bad_org = cli.invoke(
        app,
        [
            "member",
            "issue",
            "--consortium",
            str(consortium),
            "--org",
            "org9",
            "--role",
            "client",
            "--name",
            "x",
        ],
    )
    assert bad_org.exit_code == 2 and "no organisation" in bad_org.output
    both = cli.invoke(
        app,
        ["member", "revoke", "--consortium", str(consortium), "--org", "org2", "--reason", "x"],
    )
    assert both.exit_code == 2 and "exactly one" in both.output


def test_issue_three_tour(consortium: Path, tmp_path: Path) -> None:
    """The tour: propose a smaller block size, org2 and org3 vote, it takes effect at its height."""
    cli = CliRunner()
    created = cli.invoke(
        app,
        [
            "proposal",
            "create",
            "--consortium",
            str(consortium),
            "--org",
            "org1",
            "--action",
            "set_params",
            "--args",
            '{"max_block_txs": 500}',
            "--title",
            "smaller blocks",
        ],
    )
    assert created.exit_code == 0, created.output
    listing = json.loads(cli.invoke(app, ["proposal", "list", "--json"]).output)
    proposal = listing[0]["id"]
    assert listing[0]["status"] == "open" and listing[0]["threshold"] == ">2/3"
    assert (
        cli.invoke(
            app, ["proposal", "vote", proposal, "--consortium", str(consortium), "--org", "org2"]
        ).exit_code
        == 0
    )
    again = cli.invoke(app, ["proposal", "vote", proposal, "--consortium", str(consortium), "--org", "org2"])
    assert again.exit_code == 1 and "duplicate_vote" in again.output
    third = cli.invoke(app, ["proposal", "vote", proposal, "--consortium", str(consortium), "--org", "org3"])
    assert third.exit_code == 0 and "executed" in third.output
    shown = json.loads(cli.invoke(app, ["proposal", "show", proposal]).output)
    assert shown["status"] == "executed" and shown["effective_height"] >= 1
    bad = cli.invoke(
        app,
        [
            "proposal",
            "create",
            "--consortium",
            str(consortium),
            "--org",
            "org1",
            "--action",
            "set_params",
            "--args",
            "{not json",
        ],
    )
    assert bad.exit_code == 2


def _issue(cli: CliRunner, consortium: Path, org: str, role: str, name: str) -> Path:
    issued = cli.invoke(
        app,
        ["member", "issue", "--consortium", str(consortium), "--org", org, "--role", role, "--name", name],
    )
    assert issued.exit_code == 0, issued.output
    return next((consortium / org / "members").glob(f"{name}*-key.json"))


def test_audited_reads_from_the_cli(consortium: Path, tmp_path: Path) -> None:
    """A regulator reads another org's data, an auditor reads the log; an issuer is kept to its own org."""
    cli = CliRunner()
    issuer = _issue(cli, consortium, "org2", "issuer", "issuer2")
    regulator = _issue(cli, consortium, "org3", "regulator", "inspector")
    auditor = _issue(cli, consortium, "org1", "auditor", "auditor1")
    doc = tmp_path / "permit.txt"
    doc.write_text("许可证")
    done = cli.invoke(app, ["notarize", str(doc), "--key", str(issuer), "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output

    def by_org(org: str, purpose: str, key: Path) -> Result:
        args = json.dumps({"org": org})
        command = ["audit", "read", "notary", "by_org", "--args", args]
        return cli.invoke(app, [*command, "--purpose", purpose, "--key", str(key)])

    seen = by_org("org2", "inspection", regulator)
    assert seen.exit_code == 0, seen.output
    assert [item["count"] for item in json.loads(seen.output)] == [1]

    other = by_org("org3", "curious", issuer)
    assert other.exit_code == 1 and "forbidden" in other.output

    log = cli.invoke(app, ["audit", "log", "--purpose", "quarterly audit", "--key", str(auditor), "--json"])
    assert log.exit_code == 0, log.output
    entries = json.loads(log.output)
    assert [(e["role"], e["query"], e["purpose"]) for e in entries] == [
        ("auditor", "access_log", "quarterly audit"),
        ("regulator", "by_org", "inspection"),
    ]
    table = cli.invoke(app, ["audit", "log", "--purpose", "check", "--key", str(regulator)])
    assert table.exit_code == 0 and "inspection" in table.output

    bad = cli.invoke(app, ["audit", "read", "notary", "by_org", "--args", "[1]", "--purpose", "x"])
    assert bad.exit_code == 2 and "JSON object" in bad.output


def test_consortium_orgs_lists_organisations_and_member_roles(consortium: Path) -> None:
    cli = CliRunner()
    _issue(cli, consortium, "org2", "issuer", "clerk")
    listed = cli.invoke(app, ["consortium", "orgs", "--json"])
    assert listed.exit_code == 0, listed.output
    orgs = {o["id"]: o for o in json.loads(listed.output)}
    assert sorted(orgs) == ["org1", "org2", "org3"]
    assert orgs["org2"]["members"] == {"issuer": 1}
    assert orgs["org1"]["ca_pem"].startswith("-----BEGIN CERTIFICATE-----")
    table = cli.invoke(app, ["consortium", "orgs"])
    assert table.exit_code == 0 and "issuer 1" in table.output


def test_read_policy_governed_from_the_cli(consortium: Path) -> None:
    """The committee lets issuers read the access log; `proposal read-policies` shows it in force."""
    cli = CliRunner()
    issuer = _issue(cli, consortium, "org2", "issuer", "issuer2")
    log = ["audit", "log", "--purpose", "self-check", "--key", str(issuer), "--json"]
    refused = cli.invoke(app, log)
    assert refused.exit_code == 1 and "forbidden" in refused.output
    propose = [
        "proposal",
        "read-policy",
        "audit",
        "access_log",
        "--consortium",
        str(consortium),
        "--org",
        "org1",
    ]
    created = cli.invoke(app, [*propose, "--roles", "auditor,issuer"])
    assert created.exit_code == 0 and "set_read_policy" in created.output, created.output
    proposal = json.loads(cli.invoke(app, ["proposal", "list", "--json"]).output)[0]["id"]
    for org in ("org2", "org3"):
        voted = cli.invoke(app, ["proposal", "vote", proposal, "--consortium", str(consortium), "--org", org])
        assert voted.exit_code == 0, voted.output
    allowed = cli.invoke(app, log)
    assert allowed.exit_code == 0, allowed.output
    assert [(e["role"], e["purpose"]) for e in json.loads(allowed.output)] == [("issuer", "self-check")]
    listed = json.loads(cli.invoke(app, ["proposal", "read-policies", "--json"]).output)
    entry = next(p for p in listed if (p["contract"], p["query"]) == ("audit", "access_log"))
    assert entry["in_force"] == {"roles": ["auditor", "issuer"], "own_org": False}
    assert entry["default"] == {"roles": ["auditor"], "own_org": False}
    table = cli.invoke(app, ["proposal", "read-policies"])
    assert table.exit_code == 0 and "governance" in table.output

    both = cli.invoke(app, [*propose, "--roles", "issuer", "--reset"])
    assert both.exit_code == 2 and "--reset alone" in both.output
    unknown = cli.invoke(app, [*propose[:2], "notary", "lookup", *propose[4:], "--reset"])
    assert unknown.exit_code == 1 and "unknown_query" in unknown.output
    regulator = cli.invoke(app, [*propose, "--roles", "regulator"])
    assert regulator.exit_code == 1 and "invalid_read_policy" in regulator.output
