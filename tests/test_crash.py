"""Crash safety: SIGKILL a real node process under load; every acknowledged transaction survives.

The node runs as `govchain up` in its own process. Clients submit batches with
`wait=true`; a transaction counts as acknowledged only when the node replied
that it is committed. After each kill -9 the node restarts on the same data
directory and must hold every acknowledged transaction, with an unbroken chain
of headers whose log sizes add up.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from govchain import codec
from govchain.crypto import get_suite
from govchain.ledger.blocks import Header
from govchain.ledger.transactions import make_tx
from govchain.verify.receipt import verify_receipt

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_node(data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "govchain.cli.main", "up", "--data", str(data), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/status", timeout=1).raise_for_status()
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("node did not start")


def load(url: str, stop: threading.Event, acked: list[bytes]) -> None:
    """Submit batches until stopped (or the node dies); record what the node acknowledged."""
    with httpx.Client(base_url=url, timeout=10) as http:
        chain = http.get("/v1/chain").json()
        suite = get_suite(chain["suite"])
        key = suite.generate_keypair()
        while not stop.is_set():
            expiry = int(time.time() * 1000) + 600_000
            txs = [
                make_tx(
                    suite,
                    key,
                    chain["chain_id"],
                    "notary",
                    "anchor",
                    {"digest": secrets.token_bytes(32)},
                    expiry,
                )
                for _ in range(100)
            ]
            try:
                reply = http.post(
                    "/v1/txs/batch",
                    params={"wait": "true"},
                    content=codec.encode([t.raw for t in txs]),
                    headers={"content-type": "application/cbor"},
                )
                results = reply.json()["results"]
            except (httpx.HTTPError, ValueError, KeyError):
                return  # the node was killed mid-request: nothing in this batch was acknowledged
            acked.extend(t.id for t, r in zip(txs, results, strict=True) if r.get("status") == "committed")


def check_chain(url: str, acked: list[bytes]) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        status = http.get("/v1/status").json()
        suite = get_suite(status["suite"])
        prev_hash: bytes | None = None
        log_size = 0
        for height in range(status["height"] + 1):
            block = http.get(f"/v1/blocks/{height}").json()
            header = Header.decode(bytes.fromhex(block["header_cbor"]))
            if prev_hash is not None:
                assert header.prev == prev_hash, f"broken link at height {height}"
            assert header.log_size == log_size + header.tx_count
            log_size = header.log_size
            prev_hash = header.hash(suite)
        assert log_size == status["tx_count"]
        for tx_id in acked:
            assert http.get(f"/v1/txs/{tx_id.hex()}").status_code == 200, (
                "an acknowledged transaction was lost"
            )
        for tx_id in random.sample(acked, min(20, len(acked))):
            assert verify_receipt(http.get(f"/v1/txs/{tx_id.hex()}/receipt").json()).ok


def test_kill_9_under_load_loses_no_acknowledged_transaction(tmp_path: Path) -> None:
    data, log = tmp_path / "node", tmp_path / "node.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    acked: list[bytes] = []
    for cycle in range(3):
        proc = start_node(data, port, log)
        stop = threading.Event()
        workers = [threading.Thread(target=load, args=(url, stop, acked)) for _ in range(2)]
        for w in workers:
            w.start()
        # Kill only once load is flowing (a busy machine may need a while), then at a random moment.
        deadline = time.time() + 60
        start = len(acked)
        while len(acked) == start and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(random.random() * 1.5)
        before_kill = len(acked) - start
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        stop.set()
        for w in workers:
            w.join(timeout=15)
        assert before_kill > 0, f"cycle {cycle}: no load reached the node"
    proc = start_node(data, port, log)
    try:
        check_chain(url, acked)
        # The restarted node keeps working.
        stop = threading.Event()
        more: list[bytes] = []
        worker = threading.Thread(target=load, args=(url, stop, more))
        worker.start()
        deadline = time.time() + 60
        while not more and time.time() < deadline:
            time.sleep(0.05)
        stop.set()
        worker.join(timeout=15)
        assert more
        check_chain(url, acked + more)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_sigterm_stops_the_node_cleanly(tmp_path: Path) -> None:
    """`network down` and systemd stop a node with SIGTERM: it must stop as with Ctrl+C (node and
    worker processes shut down, exit status 0), not die on the spot."""
    port, log = free_port(), tmp_path / "node.log"
    proc = start_node(tmp_path / "data", port, log)
    url = f"http://127.0.0.1:{port}"
    suite = get_suite("intl")
    keys = suite.generate_keypair()
    chain_id = httpx.get(f"{url}/v1/chain", timeout=5).json()["chain_id"]
    expiry = int(time.time() * 1000) + 60_000
    tx = make_tx(
        suite, keys, chain_id, "notary", "anchor", {"digest": suite.hash(b"before the stop")}, expiry
    )
    reply = httpx.post(
        f"{url}/v1/txs/batch",
        content=codec.encode([tx.raw]),
        headers={"content-type": "application/cbor"},
        params={"wait": "true"},
        timeout=30,
    )
    assert reply.json()["results"][0]["code"] == "ok"  # the admission workers have run
    workers = _children(proc.pid)
    assert workers, "the node has no admission worker processes"
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    output = log.read_text()
    assert "node stopped" in output and "leaked" not in output
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in workers):
        assert time.monotonic() < deadline, "worker processes outlived their node"
        time.sleep(0.1)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if stat[1] == str(pid):
                found.append(int(entry.name))
    return found
