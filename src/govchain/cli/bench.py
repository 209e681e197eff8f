"""`govchain bench`: drive notarisation transactions into a node through the REST API.

Measures committed transactions per second and commit latency (p50/p95/p99)
beside the machine's own limit measured in the same run: signature
verifications per second on one core. Compare the ratio between runs, not the
absolute figures: the machines are shared and noisy.

Method: transactions are signed before the clock starts (clients sign on their
own machines), then `--clients` concurrent connections each post batches of
`--batch` transactions with `wait=true`. A transaction's latency is the time
from its batch's submission to the reply saying it is committed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import typer
from rich.progress import Progress

from govchain import codec
from govchain.cli.common import console, fail, node_url
from govchain.crypto import KeyPair, Suite, get_suite
from govchain.ledger.transactions import SignedTx, make_tx

T = TypeVar("T")


@dataclass
class BenchResult:
    suite: str
    txs: int
    committed: int
    failed: int
    duration_s: float
    tx_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    verify_per_s_core: float
    batch: int
    clients: int
    node: str
    cores: int
    machine_cpu_pct: dict[str, float]  # busy, idle, I/O wait and stolen shares of all cores during the run

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["tx_per_verify_core"] = (
            round(self.tx_per_s / self.verify_per_s_core, 3) if self.verify_per_s_core else None
        )
        return out


def measure_verify_per_core(suite: Suite, seconds: float = 1.0) -> float:
    """Signature verifications per second on one thread: the machine's own yardstick."""
    keys = suite.generate_keypair()
    message = secrets.token_bytes(200)
    signature = suite.sign(keys.private, message)
    count = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            suite.verify(keys.public, message, signature)
        count += 50
    return count / elapsed


MACHINE_KINDS = ("busy", "idle", "iowait", "steal")


def machine_ticks(stat_text: str | None = None) -> dict[str, int]:
    """The machine's CPU time so far, all cores together, from /proc/stat's first line (in ticks):
    `busy`, `idle`, `iowait` (idle while a disk read or write is outstanding) and `steal` (taken by
    the hypervisor for other guests). Empty where /proc is not available."""
    if stat_text is None:
        try:
            stat_text = Path("/proc/stat").read_text()
        except OSError:
            return {}
    fields = stat_text.split("\n", 1)[0].split()
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return {}
    user, nice, system, idle, iowait, irq, softirq, steal = (int(f) for f in fields[1:9])
    return {"busy": user + nice + system + irq + softirq, "idle": idle, "iowait": iowait, "steal": steal}


def machine_shares(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    """Each kind's share (percent) of all cores' time between two `machine_ticks` readings.

    On a shared machine, `steal` says how much of the cores the run never had, and `idle` and
    `iowait` whether the run was bound by the CPU at all (both near 0: it was)."""
    spent = {kind: after.get(kind, 0) - before.get(kind, 0) for kind in MACHINE_KINDS}
    total = sum(spent.values())
    if not before or not after or total <= 0:
        return {}
    return {kind: round(100 * ticks / total, 1) for kind, ticks in spent.items()}


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedNode:
    """A throwaway node in its own process, as a real deployment would run it."""

    def __init__(self, suite: str, consortium: Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="govchain-bench-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (self.dir / "node.log").open("w")
        cmd = [
            sys.executable,
            "-m",
            "govchain.cli.main",
            "up",
            "--data",
            str(self.dir / "data"),
            "--port",
            str(self.port),
        ]
        cmd += ["--consortium", str(consortium)] if consortium else ["--suite", suite]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the node exited early; see {self.dir / 'node.log'}")
            try:
                httpx.get(f"{self.url}/v1/status", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.close()
        raise RuntimeError("the node did not start within 60 s")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def sign_many(
    suite: Suite,
    key: KeyPair,
    chain_id: str,
    contract: str,
    method: str,
    make_args: Callable[[], dict[str, Any]],
    count: int,
    progress: Progress,
) -> list[SignedTx]:
    """Sign `count` transactions before the clock starts, on every core (signing releases the GIL)."""
    expiry = int(time.time() * 1000) + 3_600_000
    task = progress.add_task("signing transactions", total=count)

    def sign_range(n: int) -> list[SignedTx]:
        out = [make_tx(suite, key, chain_id, contract, method, make_args(), expiry) for _ in range(n)]
        progress.advance(task, n)
        return out

    workers = os.cpu_count() or 1
    sizes = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(sign_range, sizes))
    return [tx for part in parts for tx in part]


def drain(url: str, items: Iterable[T], clients: int, work: Callable[[httpx.Client, T], None]) -> None:
    """Run `work` on every item from `clients` connections, each taking the next item when free."""
    lock = threading.Lock()
    pending = iter(items)

    def loop() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            while True:
                with lock:
                    try:
                        item = next(pending)
                    except StopIteration:
                        return
                work(http, item)

    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(loop) for _ in range(clients)]:
            f.result()


@dataclass
class Posted:
    committed: int
    failed: int
    duration_s: float
    latencies: list[float]  # seconds, sorted, one per committed transaction


def post_batches(
    url: str, signed: list[SignedTx], batch: int, clients: int, progress: Progress, label: str = "committing"
) -> Posted:
    """Post pre-signed transactions in batches from `clients` connections, waiting for commit."""
    bodies = [codec.encode([tx.raw for tx in signed[i : i + batch]]) for i in range(0, len(signed), batch)]
    sizes = [len(signed[i : i + batch]) for i in range(0, len(signed), batch)]
    task = progress.add_task(label, total=len(signed))
    latencies: list[float] = []
    committed = 0
    failed = 0
    lock = threading.Lock()

    def post(http: httpx.Client, i: int) -> None:
        nonlocal committed, failed
        start = time.perf_counter()
        reply = http.post(
            "/v1/txs/batch",
            params={"wait": "true", "timeout": 60},
            content=bodies[i],
            headers={"content-type": "application/cbor"},
        )
        elapsed = time.perf_counter() - start
        reply.raise_for_status()
        results = reply.json()["results"]
        ok = sum(1 for r in results if r.get("status") == "committed" and r.get("code") == "ok")
        with lock:
            committed += ok
            failed += sizes[i] - ok
            latencies.extend([elapsed] * ok)
        progress.advance(task, sizes[i])

    started = time.perf_counter()
    drain(url, range(len(bodies)), clients, post)
    latencies.sort()
    return Posted(committed, failed, time.perf_counter() - started, latencies)


def run_bench(url: str, txs: int, batch: int, clients: int, progress: Progress) -> BenchResult:
    chain = httpx.get(f"{url}/v1/chain", timeout=10).json()
    suite = get_suite(chain["suite"])
    verify_rate = measure_verify_per_core(suite)
    key = suite.generate_keypair()
    signed = sign_many(
        suite,
        key,
        chain["chain_id"],
        "notary",
        "anchor",
        lambda: {"digest": secrets.token_bytes(32)},
        txs,
        progress,
    )
    machine_before = machine_ticks()
    posted = post_batches(url, signed, batch, clients, progress)
    machine = machine_shares(machine_before, machine_ticks())
    committed, failed, duration, latencies = (
        posted.committed,
        posted.failed,
        posted.duration_s,
        posted.latencies,
    )
    return BenchResult(
        suite=suite.name,
        txs=txs,
        committed=committed,
        failed=failed,
        duration_s=round(duration, 3),
        tx_per_s=round(committed / duration, 1),
        p50_ms=round(percentile(latencies, 50) * 1000, 1),
        p95_ms=round(percentile(latencies, 95) * 1000, 1),
        p99_ms=round(percentile(latencies, 99) * 1000, 1),
        verify_per_s_core=round(verify_rate, 1),
        batch=batch,
        clients=clients,
        node=url,
        cores=os.cpu_count() or 1,
        machine_cpu_pct=machine,
    )


def bench(
    node: str = typer.Option(None, "--node", help="Benchmark a running node instead of starting one"),
    suite: str = typer.Option("intl", "--suite", help="Suite of the embedded node (ignored with --node)"),
    txs: int = typer.Option(40_000, "--txs", min=1, help="Transactions to send"),
    batch: int = typer.Option(500, "--batch", min=1, max=5000, help="Transactions per request"),
    clients: int = typer.Option(4, "--clients", min=1, max=64, help="Concurrent connections"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON line"),
    workload: str = typer.Option(
        "notary", "--workload", help="notary, or licence (issue, then check status)"
    ),
    reads: int = typer.Option(10_000, "--reads", min=1, help="licence: status checks timed after issuing"),
    network: Path = typer.Option(
        None, "--network", help="Benchmark a running `govchain network` (finality latency too)"
    ),
    runs: int = typer.Option(
        1, "--runs", min=1, max=100, help="network: repeat the run on the same network, then sum up"
    ),
) -> None:
    """Measure committed notarisations per second and commit latency, beside verify/s per core."""
    if network is not None:
        _bench_network(network, txs, batch, clients, as_json, runs)
        return
    if runs != 1:
        fail("--runs repeats a network benchmark; add --network DIR", 2)
    embedded = None
    if node is None and suite not in ("intl", "gm"):
        fail(f"unknown suite '{suite}'", 2)
    if workload not in ("notary", "licence"):
        fail(f"unknown workload '{workload}'; choose notary or licence", 2)
    if workload == "licence":
        _licence_bench(node, suite, txs, batch, clients, reads, as_json)
        return
    try:
        if node is None:
            with console.status(f"starting an embedded {suite} node"):
                embedded = EmbeddedNode(suite)
            url = embedded.url
        else:
            url = node_url(node)
        with Progress(console=console, transient=True, disable=as_json) as progress:
            result = run_bench(url, txs, batch, clients, progress)
    except (httpx.HTTPError, RuntimeError) as exc:
        fail(f"benchmark failed: {exc}")
    finally:
        if embedded is not None:
            embedded.close()
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    console.print(
        f"suite {result.suite}, {result.txs} txs in batches of {result.batch}, {result.clients} clients, "
        f"{result.cores} cores"
    )
    console.print(f"  committed       {result.committed} ({result.failed} failed) in {result.duration_s} s")
    console.print(f"  throughput      [bold]{result.tx_per_s}[/] tx/s")
    console.print(
        f"  commit latency  p50 {result.p50_ms} ms, p95 {result.p95_ms} ms, p99 [bold]{result.p99_ms}[/] ms"
    )
    console.print(f"  machine limit   {result.verify_per_s_core} signature verifications/s on one core")
    console.print(
        f"  ratio           {result.to_json()['tx_per_verify_core']} committed tx per single-core verify"
    )
    _print_machine(result.machine_cpu_pct)


def _licence_bench(
    node: str | None, suite: str, txs: int, batch: int, clients: int, reads: int, as_json: bool
) -> None:
    from govchain.contracts.licence.bench import run_licence_bench

    if node is not None:
        fail("the licence workload starts its own one-organisation consortium node; drop --node", 2)
    try:
        with Progress(console=console, transient=True, disable=as_json) as progress:
            result = run_licence_bench(suite, txs, batch, clients, reads, progress)
    except (httpx.HTTPError, RuntimeError) as exc:
        fail(f"benchmark failed: {exc}")
    if as_json:
        typer.echo(json.dumps(result))
        return
    r = result
    console.print(f"suite {suite}: {r['issued']} licences ({r['failed']} failed) in {r['duration_s']} s")
    console.print(f"  issue throughput  [bold]{r['issue_per_s']}[/] licences/s")
    console.print(f"  commit latency    p50 {r['commit_p50_ms']} ms, p99 {r['commit_p99_ms']} ms")
    console.print(
        f"  status check      p50 {result['verify_p50_ms']} ms, p95 {result['verify_p95_ms']} ms, "
        f"p99 [bold]{result['verify_p99_ms']}[/] ms over {result['reads']} random licences"
    )
    console.print(f"  machine limit     {result['verify_per_s_core']} signature verifications/s on one core")


def _bench_network(directory: Path, txs: int, batch: int, clients: int, as_json: bool, runs: int = 1) -> None:
    from govchain.cli.bench_network import run_network_bench
    from govchain.node.network import NetworkError

    results: list[dict[str, Any]] = []
    for index in range(runs):
        try:
            with Progress(console=console, transient=True, disable=as_json) as progress:
                results.append(run_network_bench(directory, txs, batch, clients, progress))
        except NetworkError as exc:
            fail(f"{exc.reason}: {exc.message}", 2)
        except (httpx.HTTPError, RuntimeError) as exc:
            fail(f"benchmark failed: {exc}")
        if not as_json:
            if runs > 1:
                console.print(f"[bold]run {index + 1} of {runs}[/]")
            _print_network_run(results[-1])
    if as_json:
        typer.echo(json.dumps(results[0] if runs == 1 else {"runs": results, "summary": summarise(results)}))
    elif runs > 1:
        summary = summarise(results)
        console.print(f"[bold]over {runs} runs[/] (median, lowest, highest)")
        labels = (
            ("final_tx_per_s", "finalised tx/s"),
            ("final_p99_ms", "finality p99 ms"),
            ("machine_idle_pct", "machine idle %"),
            ("machine_iowait_pct", "I/O wait %"),
            ("machine_steal_pct", "stolen %"),
        )
        for key, label in labels:
            if key in summary:
                m = summary[key]
                console.print(f"  {label:16s}{m['median']} ({m['min']} .. {m['max']})")


SUMMARISED = ("final_tx_per_s", "final_p50_ms", "final_p99_ms", "verify_per_s_core", "tx_per_verify_core")


def summarise(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Median, lowest and highest of the main figures over repeated runs: on a noisy machine one
    run says little, and the spread says how much."""
    summary: dict[str, dict[str, float]] = {}
    for key in SUMMARISED:
        summary[key] = _spread([float(r[key]) for r in results])
    for kind in MACHINE_KINDS[1:]:  # the machine's own account (not busy), where /proc gave one in every run
        shares = [r.get("machine_cpu_pct", {}).get(kind) for r in results]
        if all(share is not None for share in shares):
            summary[f"machine_{kind}_pct"] = _spread([float(share) for share in shares])
    return summary


def _spread(values: list[float]) -> dict[str, float]:
    """Rounded no coarser than the ratios (0.1xx): to one decimal, a ratio's median would read 0.2."""
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 3), "min": ordered[0], "max": ordered[-1]}


def _print_network_run(r: dict[str, Any]) -> None:
    console.print(
        f"network of {r['orgs']} orgs, suite {r['suite']}, {r['txs']} txs in batches of {r['batch']}, "
        f"{r['clients']} clients over every peer, {r['cores']} cores"
    )
    console.print(f"  finalised       {r['finalised']} of {r['committed']} committed ({r['failed']} failed)")
    console.print(f"  throughput      [bold]{r['final_tx_per_s']}[/] finalised tx/s ({r['duration_s']} s)")
    console.print(f"  commit latency  p50 {r['commit_p50_ms']} ms, p99 {r['commit_p99_ms']} ms")
    console.print(
        f"  finality        p50 {r['final_p50_ms']} ms, p95 {r['final_p95_ms']} ms, "
        f"p99 [bold]{r['final_p99_ms']}[/] ms"
    )
    console.print(f"  machine limit   {r['verify_per_s_core']} signature verifications/s on one core")
    console.print(f"  ratio           {r['tx_per_verify_core']} finalised tx per single-core verify")
    cpu = r["cpu_ms_per_final_tx"]
    if cpu:
        parts = ", ".join(f"{kind} {ms} ms" for kind, ms in cpu.items())
        console.print(f"  CPU per tx      {parts} (this machine's processes of the network)")
    _print_machine(r.get("machine_cpu_pct", {}))


def _print_machine(machine: dict[str, float]) -> None:
    if machine:
        console.print(
            f"  machine CPU     busy {machine['busy']} %, idle {machine['idle']} %, "
            f"I/O wait {machine['iowait']} %, "
            f"stolen {machine['steal']} % (by the hypervisor; all cores, during the run)"
        )
