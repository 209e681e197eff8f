"""`govchain bench --network DIR`: throughput and finality latency of a running consortium network.

Method: each organisation's admin (enrolled first if needed) signs an equal share
of notarisation transactions before the clock starts. `--clients` connections,
spread over every org's peer, post batches with `wait=true`. A transaction's
commit latency is the time from its batch's submission to the reply. Its
finality latency is the time from submission until org1's peer reports its
block final (its `final` server-sent event). Throughput counts
transactions whose blocks became final, over the time until the last one did.

When the network runs on this machine, the CPU time (user + system) its
processes spent during the measurement is reported per finalised transaction:
the peers (with their admission workers) and the nats-servers, and this
client's own (`bench`), which shares the same cores. On a shared machine this
says where the cores went, which the throughput alone cannot. So does the
machine's own account over the same time (`machine_cpu_pct`, from /proc/stat):
how much of all cores was busy, idle, waiting for the disk, or stolen by the
hypervisor for other guests. When idle is near zero the run was bound by the
CPU, and its throughput is the cores it actually had divided by the CPU each
transaction cost.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from rich.progress import Progress

from govchain import codec
from govchain.cli.bench import machine_shares, machine_ticks, measure_verify_per_core, percentile
from govchain.crypto import KeyPair, Suite, get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate
from govchain.ledger.transactions import SignedTx, make_tx
from govchain.node.network import Network, read_pids, status

CBOR = {"content-type": "application/cbor"}


def _enrol_admins(network: Network, suite: Suite, chain_id: str) -> list[KeyPair]:
    """Every org's admin, enrolled through its own peer (already enrolled is fine)."""
    keys = []
    expiry = int(time.time() * 1000) + 600_000
    for node in network.orgs:
        folder = network.folder(node.org)
        admin = KeyFile.load(folder / "admin-key.json").keys
        cert = Certificate.load((folder / "admin.pem").read_bytes())
        tx = make_tx(suite, admin, chain_id, "membership", "enroll", {"cert": cert.der}, expiry)
        reply = httpx.post(
            f"{node.api_url}/v1/txs", content=tx.raw, headers=CBOR, params={"wait": "true"}, timeout=60
        )
        code = reply.json().get("code") or reply.json().get("error", {}).get("code")
        if code not in ("ok", "conflict"):
            raise RuntimeError(f"cannot enrol {node.org}'s admin: {reply.text}")
        keys.append(admin)
    deadline = time.monotonic() + 60
    while len({r["height"] for r in status(network)}) != 1:  # every peer knows every admin
        if time.monotonic() > deadline:
            raise RuntimeError("the peers did not reach the same height")
        time.sleep(0.1)
    return keys


def _sign(suite: Suite, keys: list[KeyPair], chain_id: str, count: int) -> list[SignedTx]:
    expiry = int(time.time() * 1000) + 3_600_000

    def sign_range(start: int, n: int) -> list[SignedTx]:
        return [
            make_tx(
                suite, keys[i % len(keys)], chain_id, "notary", "anchor", {"digest": os.urandom(32)}, expiry
            )
            for i in range(start, start + n)
        ]

    workers = os.cpu_count() or 1
    step = -(-count // workers)
    with ThreadPoolExecutor(workers) as pool:
        parts = pool.map(lambda s: sign_range(s, min(step, count - s)), range(0, count, step))
    return [tx for part in parts for tx in part]


def _cpu_seconds(directory: Path) -> dict[str, float]:
    """CPU seconds used so far by this network's local processes and their children, by kind.

    Empty where /proc is not available or the network runs elsewhere."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        stat = _stat(int(entry.name))
        if stat is not None:
            children.setdefault(int(stat[1]), []).append(int(entry.name))
    out: dict[str, float] = {}
    for item in read_pids(directory):
        pid = int(item["pid"])
        kind = "peers" if item["name"].endswith("-peer") else "nats"
        for one in (pid, *children.get(pid, [])):
            stat = _stat(one)
            if stat is not None:
                out[kind] = out.get(kind, 0.0) + (int(stat[11]) + int(stat[12])) / ticks
    return out


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (index 1: parent pid, 11 and 12: CPU ticks)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


class _FinalityWatch:
    """Follows one peer's `final` events (server-sent, /v1/events/blocks); remembers when each
    height was first seen final. Pushed events cost the peer nothing between finality steps,
    unlike polling, which would take CPU from the peers being measured."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.final_at: dict[int, float] = {}
        self.final_height = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._connected = threading.Event()

    def start(self) -> None:
        self.final_height = int(httpx.get(f"{self.url}/v1/status", timeout=10).json()["final_height"])
        self._thread.start()
        if not self._connected.wait(10):
            raise RuntimeError(f"cannot follow {self.url}/v1/events/blocks")

    def _advance(self, height: int) -> None:
        now = time.perf_counter()
        if height > self.final_height:
            for h in range(self.final_height + 1, height + 1):
                self.final_at[h] = now
            self.final_height = height

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with httpx.stream("GET", f"{self.url}/v1/events/blocks", timeout=None) as reply:
                    self._connected.set()
                    kind = ""
                    for line in reply.iter_lines():
                        if self._stop.is_set():
                            return
                        if line.startswith("event: "):
                            kind = line[7:]
                        elif line.startswith("data: ") and kind == "final":
                            self._advance(int(json.loads(line[6:])["height"]))
            except httpx.HTTPError:
                time.sleep(0.2)
            if not self._stop.is_set():  # the stream ended (its lifetime): catch up on what was missed
                with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                    self._advance(int(httpx.get(f"{self.url}/v1/status", timeout=10).json()["final_height"]))

    def stop(self) -> None:
        self._stop.set()  # the daemon thread ends with its next event


def run_network_bench(
    directory: Path, txs: int, batch: int, clients: int, progress: Progress
) -> dict[str, Any]:
    network = Network.load(directory)
    urls = [node.api_url for node in network.orgs]
    chain = httpx.get(f"{urls[0]}/v1/chain", timeout=10).json()
    suite = get_suite(chain["suite"])
    verify_rate = measure_verify_per_core(suite)
    keys = _enrol_admins(network, suite, chain["chain_id"])
    signed = _sign(suite, keys, chain["chain_id"], txs)
    bodies = [codec.encode([tx.raw for tx in signed[i : i + batch]]) for i in range(0, len(signed), batch)]
    task = progress.add_task("committing", total=txs)
    lock = threading.Lock()
    next_batch = iter(range(len(bodies)))
    sent: list[tuple[float, float, int]] = []  # (submitted, committed, height) per committed tx
    failed = 0
    watch = _FinalityWatch(urls[0])
    watch.start()
    cpu_before = _cpu_seconds(directory)
    bench_cpu_before = time.process_time()
    machine_before = machine_ticks()

    def client_loop(index: int) -> None:
        nonlocal failed
        with httpx.Client(base_url=urls[index % len(urls)], timeout=120) as http:
            while True:
                with lock:
                    i = next(next_batch, None)
                if i is None:
                    return
                start = time.perf_counter()
                reply = http.post(
                    "/v1/txs/batch", params={"wait": "true", "timeout": 60}, content=bodies[i], headers=CBOR
                )
                done = time.perf_counter()
                reply.raise_for_status()
                results = reply.json()["results"]
                ok = [
                    r["height"] for r in results if r.get("status") == "committed" and r.get("code") == "ok"
                ]
                with lock:
                    sent.extend((start, done, h) for h in ok)
                    failed += len(results) - len(ok)
                progress.advance(task, len(results))

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(client_loop, c) for c in range(clients)]:
            f.result()
    committed_s = time.perf_counter() - started
    top = max((h for _, _, h in sent), default=0)
    deadline = time.monotonic() + 60
    while watch.final_height < top and time.monotonic() < deadline:
        time.sleep(0.05)
    watch.stop()
    machine = machine_shares(machine_before, machine_ticks())
    cpu_used = {k: v - cpu_before.get(k, 0.0) for k, v in _cpu_seconds(directory).items()}
    cpu_used["bench"] = time.process_time() - bench_cpu_before  # this client, on the same cores
    final = [(s, watch.final_at[h]) for s, _, h in sent if h in watch.final_at]
    final_s = (max(t for _, t in final) - started) if final else committed_s
    commit_lat = sorted(d - s for s, d, _ in sent)
    final_lat = sorted(t - s for s, t in final)
    final_tx_per_s = round(len(final) / final_s, 1) if final_s else 0.0
    return {
        "suite": suite.name,
        "orgs": len(network.orgs),
        "txs": txs,
        "committed": len(sent),
        "finalised": len(final),
        "failed": failed,
        "duration_s": round(final_s, 3),
        "final_tx_per_s": final_tx_per_s,
        "commit_p50_ms": round(percentile(commit_lat, 50) * 1000, 1),
        "commit_p99_ms": round(percentile(commit_lat, 99) * 1000, 1),
        "final_p50_ms": round(percentile(final_lat, 50) * 1000, 1),
        "final_p95_ms": round(percentile(final_lat, 95) * 1000, 1),
        "final_p99_ms": round(percentile(final_lat, 99) * 1000, 1),
        "verify_per_s_core": round(verify_rate, 1),
        "tx_per_verify_core": round(final_tx_per_s / verify_rate, 3) if verify_rate else None,
        "cpu_ms_per_final_tx": {
            kind: round(seconds * 1000 / len(final), 3) for kind, seconds in sorted(cpu_used.items())
        }
        if final
        else {},
        "machine_cpu_pct": machine,
        "batch": batch,
        "clients": clients,
        "cores": os.cpu_count() or 1,
    }
