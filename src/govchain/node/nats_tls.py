"""TLS material and access rules for the organisations' nats-servers.

nats-server speaks TLS with ordinary X.509 (it cannot use SM2), so each
organisation gets its own small P-256 TLS CA next to its chain identities,
whatever the chain's suite. The TLS CA is not a chain identity: it signs
nothing on chain.

- Routes: every server presents a certificate from its own org's TLS CA and
  checks the other servers against the bundle of all orgs' TLS CAs
  (`verify: true` on the cluster port), so only the consortium's servers join.
- Clients: the client port is TLS only, and mutual. Each org's peer presents a
  client certificate from its org's TLS CA, and the server maps its subject to a
  NATS user (`verify_and_map`): that certificate and its key (0600, made by
  `network init`, never printed) are the org's NATS credential. Every server
  lists every org's user, since a peer fails over to another org's server, and
  holds nothing secret about them. A client certificate is used rather than a
  password so that no org's secret has to sit in the other orgs' configs.
- Each peer user may touch only its own chain's two streams (`authorization_block`).
- Each org also gets an operator certificate (`tls/operator.pem`, key 0600) whose
  user administers the chain's two streams (info, limits, purge, moving a
  replica off a server) and nothing else; peers never use it.
- And a system certificate (`tls/system.pem`, key 0600): its user, in the
  server's system account (`$SYS`), may only ask the JetStream meta group to
  forget a server and read the meta group's state. `network remove-org` uses it
  once governance has removed an org. Each server lists only its own org's
  system user: the meta group carries the request to its leader.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_DIR = "tls"
TLS_YEARS = 3
CAS_FILE = "cluster-cas.pem"  # every org's TLS CA: whom servers and peers trust
PEER_CERT, PEER_KEY = "peer.pem", "peer-key.pem"
OPERATOR_CERT, OPERATOR_KEY = "operator.pem", "operator-key.pem"
SYSTEM_CERT, SYSTEM_KEY = "system.pem", "system-key.pem"
CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
PREVIOUS_CA = "ca-previous.pem"  # an org's old TLS CA, still trusted while its rotation runs


def tls_name(org: str, what: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, what)]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write a private key (0600 from its creation), replacing any file whole."""
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as sink:
        sink.write(data)
    os.replace(temporary, path)


def issue_cert(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    usages: list[x509.ObjectIdentifier],
    names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365 * TLS_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def make_org_tls(folder: Path, org: str, hosts: tuple[str, ...] = ("127.0.0.1",)) -> bytes:
    """Write `folder/tls/`: the org's TLS CA and every certificate it issues; returns the CA in PEM."""
    (folder / TLS_DIR).mkdir(parents=True, exist_ok=True)
    ca_pem = new_ca(folder, org)
    issue_leaves(folder, org, hosts)
    return ca_pem


def new_ca(folder: Path, org: str) -> bytes:
    """A new TLS CA for the org (key and certificate in `folder/tls/`, replacing any); its PEM."""
    tls = folder / TLS_DIR
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(tls_name(org, f"{org} NATS TLS CA"))
        .issuer_name(tls_name(org, f"{org} NATS TLS CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365 * TLS_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    _write_key(tls / CA_KEY, ca_key)
    _write_file(tls / CA_CERT, ca_pem)
    return ca_pem


def issue_leaves(folder: Path, org: str, hosts: tuple[str, ...]) -> None:
    """The org's server, peer, operator and system certificates, each with a new key, from its
    current TLS CA (`hosts`: the server certificate's addresses)."""
    ca, ca_key = _load_ca(folder)
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    # routes are mutual TLS: each server is also the client of the route it dials
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    client = [ExtendedKeyUsageOID.CLIENT_AUTH]
    leaves = [
        ("server.pem", "server-key.pem", "nats-server", usages, names),
        (PEER_CERT, PEER_KEY, "peer", client, None),
        (OPERATOR_CERT, OPERATOR_KEY, "operator", client, None),
        (SYSTEM_CERT, SYSTEM_KEY, "system", client, None),
    ]
    for cert_file, key_file, what, uses, alt in leaves:
        _issue_into(folder / TLS_DIR, ca, ca_key, org, what, cert_file, key_file, uses, alt)


def ensure_system_cert(folder: Path, org: str) -> None:
    """Issue the org's system certificate from its TLS CA if it has none (networks made before
    system users existed get theirs when they first need it)."""
    tls = folder / TLS_DIR
    if not (tls / SYSTEM_CERT).is_file():
        ca, ca_key = _load_ca(folder)
        _issue_into(
            tls, ca, ca_key, org, "system", SYSTEM_CERT, SYSTEM_KEY, [ExtendedKeyUsageOID.CLIENT_AUTH]
        )


def _load_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    tls = folder / TLS_DIR
    if not (tls / CA_KEY).is_file():
        raise FileNotFoundError(f"{tls / CA_KEY}: the org's TLS CA key (kept where `network init` ran)")
    ca = x509.load_pem_x509_certificate((tls / CA_CERT).read_bytes())
    ca_key = serialization.load_pem_private_key((tls / CA_KEY).read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{tls / CA_KEY} is not an EC key")
    return ca, ca_key


def _issue_into(
    tls: Path,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    org: str,
    what: str,
    cert_file: str,
    key_file: str,
    usages: list[x509.ObjectIdentifier],
    names: list[x509.GeneralName] | None = None,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_cert(ca, ca_key, tls_name(org, f"{org} {what}"), key, usages, names)
    _write_key(tls / key_file, key)
    _write_file(tls / cert_file, cert.public_bytes(serialization.Encoding.PEM))


def _write_file(path: Path, data: bytes) -> None:
    """Replace a file whole (a reader, such as a reloading nats-server, sees old or new)."""
    temporary = path.with_name(path.name + ".new")
    temporary.write_bytes(data)
    os.replace(temporary, path)


CERT_FILES = (CA_CERT, "server.pem", PEER_CERT, OPERATOR_CERT, SYSTEM_CERT)
EXPIRY_WARNING_DAYS = 90  # `network status` warns this long before a TLS certificate runs out


def earliest_expiry(folder: Path) -> tuple[str, dt.datetime] | None:
    """The org's TLS certificate (file name) that runs out first, and when; None if it has none.
    nats-server refuses an expired certificate, so the org must `rotate-tls` before then."""
    found = []
    for name in CERT_FILES:
        path = folder / TLS_DIR / name
        if path.is_file():
            found.append((name, x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc))
    return min(found, key=lambda item: item[1]) if found else None


def peer_user(org: str) -> str:
    """The NATS user an org's peer certificate maps to: its subject, as nats-server writes it (RFC 4514)."""
    return tls_name(org, f"{org} peer").rfc4514_string()


def operator_user(org: str) -> str:
    """The NATS user of an org's operator certificate (stream administration: limits, purge)."""
    return tls_name(org, f"{org} operator").rfc4514_string()


def operator_inbox_prefix(org: str) -> str:
    return f"_INBOX_{org}_ops"


def system_user(org: str) -> str:
    """The NATS user of an org's system certificate (in the system account: meta group requests)."""
    return tls_name(org, f"{org} system").rfc4514_string()


def system_inbox_prefix(org: str) -> str:
    return f"_INBOX_{org}_sys"


def inbox_prefix(org: str) -> str:
    """Each peer's reply subjects live under its own prefix, so no other user may read or answer them."""
    return f"_INBOX_{org}"


def cluster_tls_block() -> list[str]:
    """The `tls { }` lines of a cluster block (paths relative to the org's folder)."""
    return [
        "  tls {",
        f'    cert_file: "{TLS_DIR}/server.pem"',
        f'    key_file: "{TLS_DIR}/server-key.pem"',
        f'    ca_file: "{TLS_DIR}/{CAS_FILE}"',
        "    verify: true",
        "    timeout: 3",
        "  }",
    ]


def client_tls_block() -> list[str]:
    """The top-level `tls { }`: the client port takes only TLS clients with a consortium certificate,
    whose subject names their NATS user."""
    return [line[2:] for line in cluster_tls_block()[:4]] + ["  verify_and_map: true", "  timeout: 3", "}"]


def authorization_block(orgs: list[str], stream: str, prefix: str) -> list[str]:
    """One NATS user per org's peer, allowed only what a peer does with its chain's two streams.

    Publish: transactions and cut markers (`prefix.>`), header signatures (`prefix-sig`), the
    JetStream API calls for these two streams (create/info, consumers), and flow-control replies.
    Subscribe: only the peer's own inbox. No peer may publish into another's inbox, delete or
    purge a stream, or reach another chain's streams. Each org's operator user may call the stream
    API (info, update, purge, delete, peer removal) on the chain's two streams only, and read
    its own inbox.
    """
    api = "$JS.API"
    publish = [f"{prefix}.>", f"{prefix}-sig", f"{api}.INFO", "$JS.FC.>"]
    for name in (stream, f"{stream}_SIGS"):
        publish += [
            f"{api}.STREAM.CREATE.{name}",
            f"{api}.STREAM.INFO.{name}",
            f"{api}.CONSUMER.*.{name}",
            f"{api}.CONSUMER.*.{name}.>",
        ]
    allow = ", ".join(f'"{subject}"' for subject in publish)
    # an org's operator administers the chain's two streams (info, limits, purge), and nothing else
    admin = [f"{api}.INFO", f"{api}.STREAM.NAMES", f"{api}.STREAM.LIST"]
    for name in (stream, f"{stream}_SIGS"):
        admin += [f"{api}.STREAM.*.{name}", f"{api}.STREAM.PEER.REMOVE.{name}"]
    admin_allow = ", ".join(f'"{subject}"' for subject in admin)
    lines = ["authorization {", "  users: ["]
    for org in orgs:
        lines.append(
            f'    {{user: "{peer_user(org)}", permissions: {{publish: {{allow: [{allow}]}}, '
            f'subscribe: {{allow: ["{inbox_prefix(org)}.>"]}}}}}}'
        )
        lines.append(
            f'    {{user: "{operator_user(org)}", permissions: {{publish: {{allow: [{admin_allow}]}}, '
            f'subscribe: {{allow: ["{operator_inbox_prefix(org)}.>"]}}}}}}'
        )
    return [*lines, "  ]", "}"]


SYSTEM_REQUESTS = ("$JS.API.SERVER.REMOVE", "$SYS.REQ.SERVER.PING.JSZ")


def system_account_block(org: str) -> list[str]:
    """The system account with one user, the org's own system certificate, allowed only to ask the
    meta group to forget a server and to read the meta group's state. (The account is nats-server's
    default system account, so adding it to a running server's config takes effect on reload.)"""
    allow = ", ".join(f'"{subject}"' for subject in SYSTEM_REQUESTS)
    return [
        "accounts {",
        "  $SYS {",
        f'    users: [{{user: "{system_user(org)}", permissions: {{publish: {{allow: [{allow}]}}, '
        f'subscribe: {{allow: ["{system_inbox_prefix(org)}.>"]}}}}}}]',
        "  }",
        "}",
    ]


def operator_context(folder: Path) -> ssl.SSLContext:
    """An org operator's TLS context (`folder` is the org's folder), for stream administration."""
    tls = f"{TLS_DIR}/"
    return client_context(folder, tls + CAS_FILE, tls + OPERATOR_CERT, tls + OPERATOR_KEY)


def system_context(folder: Path) -> ssl.SSLContext:
    """An org's system user's TLS context (`folder` is the org's folder), for meta group requests."""
    tls = f"{TLS_DIR}/"
    return client_context(folder, tls + CAS_FILE, tls + SYSTEM_CERT, tls + SYSTEM_KEY)


def client_context(folder: Path, ca_file: str, cert_file: str, key_file: str) -> ssl.SSLContext:
    """A peer's TLS context: trusts the consortium's TLS CAs, presents the org's peer certificate
    (paths relative to `folder`, the org's folder)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(folder / ca_file))
    context.load_cert_chain(str(folder / cert_file), str(folder / key_file))
    return context
