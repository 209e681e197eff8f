"""TLS material for the routes between organisations' nats-servers.

nats-server speaks TLS with ordinary X.509 (it cannot use SM2), so each
organisation gets its own small P-256 TLS CA next to its chain identities,
whatever the chain's suite. Every server presents a certificate from its own
org's TLS CA, and checks its peers against the bundle of all orgs' TLS CAs
(`verify: true` on the cluster port), so only the consortium's servers can join
the cluster. The TLS CA is not a chain identity: it signs nothing on chain.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_DIR = "tls"
TLS_YEARS = 3


def _name(org: str, what: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, what)]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as sink:
        sink.write(data)


def make_org_tls(folder: Path, org: str, hosts: tuple[str, ...] = ("127.0.0.1",)) -> bytes:
    """Write `folder/tls/`: the org's TLS CA and its server certificate; returns the CA in PEM."""
    tls = folder / TLS_DIR
    tls.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=365 * TLS_YEARS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(org, f"{org} NATS TLS CA"))
        .issuer_name(_name(org, f"{org} NATS TLS CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(org, f"{org} nats-server"))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # routes are mutual TLS: each server is also the client of the route it dials
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(tls / "ca-key.pem", ca_key)
    _write_key(tls / "server-key.pem", server_key)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    (tls / "ca.pem").write_bytes(ca_pem)
    (tls / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    return ca_pem


def cluster_tls_block() -> list[str]:
    """The `tls { }` lines of a cluster block (paths relative to the org's folder)."""
    return [
        "  tls {",
        f'    cert_file: "{TLS_DIR}/server.pem"',
        f'    key_file: "{TLS_DIR}/server-key.pem"',
        f'    ca_file: "{TLS_DIR}/cluster-cas.pem"',
        "    verify: true",
        "    timeout: 3",
        "  }",
    ]
