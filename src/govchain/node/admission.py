"""Stateless admission checks, spread over worker processes for large batches.

Decoding, the canonical-form checks and signature verification need nothing
but the transaction's bytes and the chain's fixed parameters, so they can run
outside the node's interpreter. Worker processes do them for big batches; the
node keeps its own interpreter for execution and commit, which must stay in
one thread. Small batches are checked inline, where a process round trip would
cost more than it saves.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import cbor2

from govchain.crypto import get_suite
from govchain.ledger.errors import TxRejected
from govchain.ledger.transactions import SignedTx, TxBody, check_tx_context, decode_tx

log = logging.getLogger("govchain.node.admission")

PASSED = ""
POOL_MIN_BATCH = 64

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class AdmissionRules:
    """Everything the stateless checks depend on; small enough to send to a worker."""

    suite: str
    chain_id: str
    max_tx_bytes: int
    max_tx_ttl_ms: int


Checked = tuple[str, str, bytes | None]
"""(reason code or PASSED, message, tx id if decodable)."""


def check_one(rules: AdmissionRules, raw: bytes, now_ms: int) -> tuple[Checked, SignedTx | None]:
    suite = get_suite(rules.suite)
    try:
        tx = decode_tx(suite, raw, rules.max_tx_bytes)
        check_tx_context(tx, rules.chain_id, now_ms, rules.max_tx_ttl_ms)
    except TxRejected as exc:
        return (exc.code, exc.message, None), None
    return (PASSED, "", tx.id), tx


def check_batch(rules: AdmissionRules, raws: Sequence[bytes], now_ms: int) -> list[Checked]:
    """Decode, check and verify every transaction; runs in a worker process."""
    suite = get_suite(rules.suite)
    out: list[Checked] = []
    items = []
    for raw in raws:
        checked, tx = check_one(rules, raw, now_ms)
        out.append(checked)
        if tx is not None:
            items.append((len(out) - 1, tx))
    valid = [suite.verify(tx.body.sender, tx.signing_input(), tx.signature) for _, tx in items]
    for (i, tx), ok in zip(items, valid, strict=True):
        if not ok:
            out[i] = ("bad_signature", "signature does not verify", tx.id)
    return out


def rebuild(raw: bytes, tx_id: bytes) -> SignedTx:
    """A SignedTx from bytes a worker already checked: no second canonical walk or hash."""
    envelope = cbor2.loads(raw)
    body_bytes = envelope["body"]
    v = cbor2.loads(body_bytes)
    body = TxBody(v["chain"], v["from"], v["contract"], v["method"], v["args"], v["nonce"], v["expiry"])
    return SignedTx(body, body_bytes, envelope["sig"], raw, tx_id)


PARENT_CHECK_S = 1.0


def _init_worker(node_pid: int) -> None:
    """Workers leave Ctrl+C to the node, which shuts them down cleanly, and end by themselves once
    the node's process is gone: a node killed with kill -9 cannot shut them down, and its pool's
    queues stay open in the workers, so they would otherwise run on as orphans."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == node_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="govchain-admission-watch", daemon=True).start()


def pool() -> ProcessPoolExecutor:
    """One pool per process, started on first use ('spawn': safe beside the node's threads)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=os.cpu_count() or 1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(os.getpid(),),
            )
        return _pool


def warm_up() -> None:
    """Start the worker processes now, in the background, so that a node's first large batch
    does not also wait for them to start (each one imports the ledger, about a second)."""

    def start() -> None:
        try:
            executor = pool()
            for future in [executor.submit(_ready) for _ in range(os.cpu_count() or 1)]:
                future.result()
        except Exception as exc:  # shut down meanwhile: admission starts the pool when it needs it
            log.debug("admission workers not started in advance: %s", exc)

    threading.Thread(target=start, name="govchain-admission-warm-up", daemon=True).start()


def _ready() -> bool:
    return True


def shutdown() -> None:
    """Stop the worker processes (the node's process is ending): none may outlive it."""
    global _pool
    with _pool_lock:
        executor, _pool = _pool, None
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)


def _discard_pool(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


def check_parallel(rules: AdmissionRules, raws: Sequence[bytes], now_ms: int) -> list[Checked]:
    """check_batch split over the worker processes, results in input order.

    If a worker died (killed, out of memory), the pool is replaced for next time
    and this batch is checked here instead: admission never fails for that reason.
    """
    workers = os.cpu_count() or 1
    size = -(-len(raws) // workers)
    chunks = [list(raws[i : i + size]) for i in range(0, len(raws), size)]
    executor = pool()
    try:
        futures = [executor.submit(check_batch, rules, chunk, now_ms) for chunk in chunks]
        return [item for f in futures for item in f.result()]
    except BrokenProcessPool:
        log.warning("an admission worker died; restarting the pool and checking this batch inline")
        _discard_pool(executor)
        return check_batch(rules, raws, now_ms)
