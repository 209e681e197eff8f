"""Client connections to the orgs' nats-servers: mutual TLS, one NATS user per org, least permissions.

Real nats-servers and peers (`network up`, 2 orgs on 127.0.0.1); the clients are nats-py.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from nats.errors import NoRespondersError, TimeoutError

from govchain.crypto import get_suite
from govchain.node.chain import ChainFiles
from govchain.node.nats_tls import (
    CAS_FILE,
    TLS_DIR,
    client_context,
    inbox_prefix,
    issue_cert,
    make_org_tls,
    operator_context,
    operator_inbox_prefix,
    tls_name,
)
from govchain.node.network import Network
from govchain.ordering.jetstream import stream_names
from tests.network.test_network import running


@pytest.fixture
def two_orgs(tmp_path: Path) -> Iterator[Network]:
    with running(tmp_path / "net", 2) as created:
        yield created


def peer_context(network: Network, org: str) -> ssl.SSLContext:
    folder = network.folder(org)
    return client_context(folder, f"{TLS_DIR}/{CAS_FILE}", f"{TLS_DIR}/peer.pem", f"{TLS_DIR}/peer-key.pem")


def forged_peer_cert(folder: Path, org: str, ca_dir: Path) -> tuple[Path, Path]:
    """A client certificate whose subject is `org`'s peer user, signed by the TLS CA in `ca_dir`."""
    ca = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca-key.pem").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_cert(ca, ca_key, tls_name(org, f"{org} peer"), key, [ExtendedKeyUsageOID.CLIENT_AUTH])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return folder / "cert.pem", folder / "key.pem"


def plain_client_refused(port: int) -> bool:
    """A client speaking plain NATS: the INFO says TLS is required, and a PING gets no PONG."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        info = raw.recv(4096)
        assert info.startswith(b"INFO ") and b'"tls_required":true' in info, info
        raw.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := raw.recv(4096):
                answer += chunk
    return b"PONG" not in answer


def handshake_refusal(reason: str) -> bool:
    """The server ended the TLS handshake (it checks the client certificate as the handshake ends,
    so the client sees an SSL alert or its socket closed), unlike an unreachable server."""
    words = ("ssl", "certificate", "brokenpipeerror", "connectionreseterror")
    return any(word in reason.lower() for word in words)


async def refused(url: str, tls: ssl.SSLContext | None) -> str:
    """Connect once; return what refused us (the connection must not succeed)."""
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    try:
        nc = await nats.connect(
            url,
            tls=tls,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=3,
            error_cb=on_error,
        )
    except Exception as exc:
        return " ".join([type(exc).__name__, str(exc).lower(), *errors])
    await nc.close()
    raise AssertionError(f"{url} accepted the connection")


async def violations(
    url: str, tls: ssl.SSLContext, org: str, other: str, stream: str, prefix: str
) -> list[str]:
    """As `org`'s peer: publish a transaction (allowed), then try what a peer must not do."""
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    nc = await nats.connect(
        url, tls=tls, inbox_prefix=inbox_prefix(org), allow_reconnect=False, error_cb=on_error
    )
    try:
        js = nc.jetstream(timeout=5)
        ack = await js.publish(f"{prefix}.tx", b"not a transaction", headers={"Nats-Msg-Id": "probe"})
        assert ack.stream == stream  # its own chain's stream takes what the peer publishes
        for subject in (f"$JS.API.STREAM.DELETE.{stream}", f"$JS.API.STREAM.PURGE.{stream}"):
            with pytest.raises((TimeoutError, NoRespondersError)):
                await nc.request(subject, b"", timeout=1)
        await nc.publish(f"{inbox_prefix(other)}.forged", b"fake reply")  # another peer's inbox
        await nc.publish("govchain.0000000000000000.tx", b"another chain")
        await nc.subscribe(f"{inbox_prefix(other)}.>")
        await nc.flush()
        await asyncio.sleep(0.5)  # violations come back asynchronously
        info = await js.stream_info(stream)
        assert info.state.messages >= 1  # nothing deleted or purged
        return errors
    finally:
        await nc.close()


@pytest.mark.slow
def test_client_port_takes_only_each_orgs_peer_certificate(two_orgs: Network, tmp_path: Path) -> None:
    network = two_orgs
    org1 = network.orgs[0]
    url = org1.nats_url
    assert url.startswith("tls://")
    genesis = ChainFiles(network.folder("org1") / "node").genesis.read_bytes()
    stream, prefix = stream_names(get_suite(network.suite).hash(genesis))

    # no TLS at all: the server demands it and never answers a plain client
    assert plain_client_refused(org1.client_port)
    # TLS, but without a client certificate: refused at the handshake
    anonymous = ssl.create_default_context(cafile=str(network.folder("org1") / TLS_DIR / CAS_FILE))
    reason = asyncio.run(refused(url, anonymous))  # fails if the server let it in
    assert handshake_refusal(reason), reason

    # org1's own user's subject, but signed by a CA outside the consortium: refused at the handshake
    make_org_tls(tmp_path / "outsider", "outsider")
    cert, key = forged_peer_cert(tmp_path / "forged", "org1", tmp_path / "outsider" / TLS_DIR)
    outsider = ssl.create_default_context(cafile=str(network.folder("org1") / TLS_DIR / CAS_FILE))
    outsider.load_cert_chain(str(cert), str(key))
    reason = asyncio.run(refused(url, outsider))
    assert handshake_refusal(reason), reason

    # a certificate from a consortium CA that names no NATS user (org1's server certificate): refused
    folder = network.folder("org1") / TLS_DIR
    server_cert = ssl.create_default_context(cafile=str(folder / CAS_FILE))
    server_cert.load_cert_chain(str(folder / "server.pem"), str(folder / "server-key.pem"))
    assert "authorization violation" in asyncio.run(refused(url, server_cert))

    # org2's peer reaches org1's server too (failover) as org2's user; it may only use its chain's streams
    seen = asyncio.run(violations(url, peer_context(network, "org2"), "org2", "org1", stream, prefix))
    text = " | ".join(seen)
    assert f'publish to "$js.api.stream.delete.{stream.lower()}"' in text, text
    assert f'publish to "$js.api.stream.purge.{stream.lower()}"' in text, text
    assert f'publish to "{inbox_prefix("org1").lower()}.forged"' in text, text
    assert 'publish to "govchain.0000000000000000.tx"' in text, text
    assert f'subscription to "{inbox_prefix("org1").lower()}.>"' in text, text


async def operator_session(url: str, folder: Path, org: str, stream: str) -> list[str]:
    """As `org`'s operator: read the stream's info and purge the signature stream (allowed), then try
    another chain's stream and a peer's inbox (denied)."""
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    nc = await nats.connect(
        url,
        tls=operator_context(folder),
        inbox_prefix=operator_inbox_prefix(org),
        allow_reconnect=False,
        error_cb=on_error,
    )
    try:
        js = nc.jetstream(timeout=5)
        assert (await js.stream_info(stream)).config.name == stream
        assert await js.purge_stream(f"{stream}_SIGS")
        with pytest.raises((TimeoutError, NoRespondersError)):
            await nc.request("$JS.API.STREAM.PURGE.GOVCHAIN_0000000000000000", b"", timeout=1)
        await nc.subscribe(f"{inbox_prefix(org)}.>")
        await nc.flush()
        await asyncio.sleep(0.5)
        return errors
    finally:
        await nc.close()


@pytest.mark.slow
def test_an_orgs_operator_administers_only_its_chains_streams(two_orgs: Network) -> None:
    network = two_orgs
    org1 = network.orgs[0]
    genesis = ChainFiles(network.folder("org1") / "node").genesis.read_bytes()
    stream, _ = stream_names(get_suite(network.suite).hash(genesis))
    seen = " | ".join(asyncio.run(operator_session(org1.nats_url, network.folder("org2"), "org2", stream)))
    assert 'publish to "$js.api.stream.purge.govchain_0000000000000000"' in seen, seen
    assert f'subscription to "{inbox_prefix("org2").lower()}.>"' in seen, seen
