"""`govchain bench --workload licence`: issue many licences, then time the public status check.

Method: a one-organisation consortium in its own node process; governance
registers a licence type, an issuer is enrolled; then `--txs` `licence.issue`
transactions, signed before the clock starts, are posted in batches with
`wait=true` (issue throughput and commit latency). With every licence on chain,
`--reads` random licences are checked through `GET /v1/licences/{id}` from
`--clients` connections (verification latency at that size). The machine's own
limit, signature verifications per second on one core, is measured in the same run,
and so is the issuing client's own cost per licence: rendering and hashing its file
(up to 200 files, one core).
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from rich.progress import Progress

from govchain.cli.bench import (
    EmbeddedNode,
    drain,
    measure_verify_per_core,
    percentile,
    post_batches,
    sign_many,
)
from govchain.contracts.licence.model import DAY_MS, licence_id, parse_type
from govchain.contracts.licence.render import LicenceSheet, render_licence
from govchain.contracts.licence.samples import BUSINESS_LICENCE
from govchain.crypto import get_suite
from govchain.crypto.keyfile import KeyFile
from govchain.crypto.x509 import Certificate, issue
from govchain.node.consortium import OrgFiles, init_consortium
from govchain.sdk.client import Client

TYPE_CODE = "BL"


def _prepare(url: str, cons: Path) -> tuple[Client, Any]:
    """Enrol org1's admin, register the licence type by governance, enrol an issuer."""
    org = OrgFiles("org1", cons / "org1")
    admin = KeyFile.load(org.key("admin")).keys
    client = Client(url, key=admin)
    client.call("membership", "enroll", {"cert": Certificate.load(org.cert("admin").read_bytes()).der})
    doc = BUSINESS_LICENCE | {"issuers": ["org1"]}
    client.call(
        "governance",
        "propose",
        {"action": "register", "args": {"kind": "licence_type", "id": TYPE_CODE, "doc": doc}},
    )
    suite = client.chain.suite
    issuer = suite.generate_keypair()
    ca = Certificate.load(org.ca.read_bytes())
    now = int(time.time() * 1000)
    cert = issue(
        suite,
        ca,
        KeyFile.load(org.key("ca")).keys.private,
        issuer.public,
        "org1",
        "issuer",
        "bench",
        now - 1000,
        now + DAY_MS,
    )
    client.key = issuer
    client.call("membership", "enroll", {"cert": cert.der})
    deadline = time.time() + 30
    while not client.get("/v1/licences/types")["types"]:  # in force one block after the vote
        if time.time() > deadline:
            raise RuntimeError("the licence type did not come into force")
        client.call("notary", "anchor", {"digest": secrets.token_bytes(32)})
    return client, issuer


def _time_reads(url: str, ids: list[str], clients: int, progress: Progress) -> tuple[list[float], int]:
    """Latency of each status check (seconds, sorted) and how many answered `valid`."""
    task = progress.add_task("checking licences", total=len(ids))
    latencies: list[float] = []
    valid = 0
    lock = threading.Lock()

    def check(http: httpx.Client, lid: str) -> None:
        nonlocal valid
        start = time.perf_counter()
        reply = http.get(f"/v1/licences/{lid}")
        elapsed = time.perf_counter() - start
        with lock:
            latencies.append(elapsed)
            valid += reply.status_code == 200 and reply.json()["status"] == "valid"
        progress.advance(task)

    drain(url, ids, clients, check)
    return sorted(latencies), valid


def _time_renders(suite_name: str, chain_id: str, portal: str, count: int) -> list[float]:
    """Render and hash `count` licence files one after another, as an issuing client does before
    each issue (one core); the time of each, sorted."""
    suite = get_suite(suite_name)
    kind = parse_type(TYPE_CODE, BUSINESS_LICENCE)
    now = int(time.time() * 1000)
    latencies = []
    for n in range(1, count + 1):
        sheet = LicenceSheet(
            kind, licence_id(TYPE_CODE, "org1", n), 1, "org1", "", now, now + 365 * DAY_MS,
            {"name": f"某某科技有限公司 {n}", "credit_code": f"91310115MA1K{n:06d}", "scope": "软件开发"},
            secrets.token_bytes(32), chain_id, portal,
        )  # fmt: skip
        start = time.perf_counter()
        suite.hash(render_licence(sheet))
        latencies.append(time.perf_counter() - start)
    return sorted(latencies)


def run_licence_bench(
    suite_name: str, txs: int, batch: int, clients: int, reads: int, progress: Progress
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="govchain-bench-licence-"))
    cons = workdir / "cons"
    init_consortium(cons, 1, suite_name)
    node = EmbeddedNode(suite_name, consortium=cons)
    try:
        suite = get_suite(suite_name)
        verify_rate = measure_verify_per_core(suite)
        client, issuer = _prepare(node.url, cons)
        holders = [suite.generate_keypair().public for _ in range(64)]
        now = int(time.time() * 1000)

        def issue_args() -> dict[str, Any]:
            return {
                "type": TYPE_CODE,
                "holder_commitment": secrets.token_bytes(32),
                "holder_key": random.choice(holders),
                "data_digest": secrets.token_bytes(32),
                "file_digest": secrets.token_bytes(32),
                "valid_from": now,
                "valid_until": now + 365 * DAY_MS,
            }

        signed = sign_many(
            suite, issuer, client.chain.chain_id, "licence", "issue", issue_args, txs, progress
        )
        posted = post_batches(node.url, signed, batch, clients, progress, "issuing")
        del signed
        sample = random.sample(range(1, posted.committed + 1), min(reads, posted.committed))
        read_latencies, valid = _time_reads(
            node.url, [licence_id(TYPE_CODE, "org1", n) for n in sample], clients, progress
        )
        render_latencies = _time_renders(suite_name, client.chain.chain_id, node.url, min(reads, 200))
        db = node.dir / "data" / "chain.db"
        size = db.stat().st_size + (
            db.with_name("chain.db-wal").stat().st_size if db.with_name("chain.db-wal").exists() else 0
        )
    finally:
        node.close()
        shutil.rmtree(workdir, ignore_errors=True)
    rate = posted.committed / posted.duration_s
    return {
        "workload": "licence",
        "suite": suite_name,
        "licences": txs,
        "issued": posted.committed,
        "failed": posted.failed,
        "duration_s": round(posted.duration_s, 3),
        "issue_per_s": round(rate, 1),
        "commit_p50_ms": round(percentile(posted.latencies, 50) * 1000, 1),
        "commit_p99_ms": round(percentile(posted.latencies, 99) * 1000, 1),
        "reads": len(sample),
        "reads_valid": valid,
        "verify_p50_ms": round(percentile(read_latencies, 50) * 1000, 2),
        "verify_p95_ms": round(percentile(read_latencies, 95) * 1000, 2),
        "verify_p99_ms": round(percentile(read_latencies, 99) * 1000, 2),
        "renders": len(render_latencies),
        "render_p50_ms": round(percentile(render_latencies, 50) * 1000, 2),
        "render_p99_ms": round(percentile(render_latencies, 99) * 1000, 2),
        "db_mb": round(size / 1e6, 1),
        "verify_per_s_core": round(verify_rate, 1),
        "issue_per_verify_core": round(rate / verify_rate, 3),
        "batch": batch,
        "clients": clients,
        "cores": os.cpu_count() or 1,
    }
