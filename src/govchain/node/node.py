"""The node: admits transactions, hands them to the orderer, and turns batches into blocks.

Write path (docs/architecture.md):
  admit()   stateless checks + signatures (spread over every core), replay check
  orderer   an ordered stream of batches (solo by default)
  _produce  state transition -> sign header -> commit in one SQLite transaction
            -> notify listeners (the API wakes clients waiting for commit)

Only the executor thread writes to the store, so blocks are applied strictly in order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as MetricCounter

from govchain import codec
from govchain.crypto import Suite, get_suite
from govchain.ledger import errors
from govchain.ledger.blocks import Genesis, Header, HeaderSignature, genesis_header, sign_header
from govchain.ledger.contracts import Registry
from govchain.ledger.errors import TxRejected
from govchain.ledger.state_transition import ChainContext, Parent, apply_block
from govchain.ledger.transactions import SignedTx
from govchain.merkle import root_from_leaf_hashes
from govchain.node import admission
from govchain.node.chain import ChainFiles, KeyFile, load_genesis
from govchain.ordering.base import Batch, Orderer, QueueFull
from govchain.ordering.solo import SoloOrderer
from govchain.state import ReadView
from govchain.store.sqlite import BlockWrite, Store

log = logging.getLogger("govchain.node")

ACCEPTED = "accepted"
MAX_SUBMIT_BATCH = 5000


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to one submitted transaction: accepted (with its id) or a reason code."""

    code: str
    message: str = ""
    id: bytes | None = None

    @property
    def accepted(self) -> bool:
        return self.code == ACCEPTED


@dataclass(frozen=True, slots=True)
class CommitEvent:
    """What listeners learn after each block is durably committed."""

    height: int
    block_hash: bytes
    time: int
    committed: list[tuple[bytes, str]]  # (tx id, result code)
    dropped: list[tuple[bytes, str, str]]  # (tx id, reason code, message)


CommitListener = Callable[[CommitEvent], None]


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.height = Gauge("govchain_height", "Height of the last committed block", registry=r)
        self.pending = Gauge(
            "govchain_pending_txs", "Transactions admitted but not yet in a block", registry=r
        )
        self.blocks = MetricCounter("govchain_blocks", "Blocks committed", registry=r)
        self.txs = MetricCounter("govchain_txs_committed", "Transactions committed", ["code"], registry=r)
        self.rejected = MetricCounter(
            "govchain_txs_rejected", "Transactions refused at admission", ["code"], registry=r
        )
        self.block_seconds = Histogram(
            "govchain_block_seconds",
            "Time to execute and commit one block",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )


class Node:
    def __init__(self, data_dir: Path, registry: Registry, orderer: Orderer[SignedTx] | None = None) -> None:
        self.files = ChainFiles(data_dir)
        self.genesis: Genesis = load_genesis(data_dir)
        self.suite: Suite = get_suite(self.genesis.suite)
        self.key = KeyFile.load(self.files.node_key)
        if self.key.suite != self.suite.name:
            raise ValueError(f"node key is for suite {self.key.suite}, the chain uses {self.suite.name}")
        self.is_signer = self.key.keys.public in self.genesis.signers
        self.chain = ChainContext(self.suite, self.genesis, registry)
        self.registry = registry
        self.store = Store(self.files.db)
        self.genesis_hash = self.suite.hash(self.files.genesis.read_bytes())
        self.rules = admission.AdmissionRules(
            self.suite.name,
            self.genesis.chain_id,
            self.genesis.params.max_tx_bytes,
            self.genesis.params.max_tx_ttl_ms,
        )
        self.metrics = NodeMetrics()
        params = self.genesis.params
        self.orderer: Orderer[SignedTx] = orderer or SoloOrderer(
            lambda: (params.max_block_txs, params.block_time_ms)
        )
        self._lock = threading.Lock()
        self._inflight: set[bytes] = set()
        self._listeners: list[CommitListener] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.parent = self._load_parent()
        self.metrics.height.set(self.parent.header.height)

    # --- lifecycle -------------------------------------------------------------------

    def _load_parent(self) -> Parent:
        latest = self.store.latest_block()
        if latest is None:
            self._commit_genesis_block()
            latest = self.store.latest_block()
            assert latest is not None
        frontier = codec.decode(latest.frontier)
        return Parent(Header.decode(latest.header), tuple(frontier))

    def _commit_genesis_block(self) -> None:
        empty = root_from_leaf_hashes(self.suite.hash, [])
        header = genesis_header(self.suite, self.genesis, empty)
        self._commit(header, [], {}, [], ())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="govchain-executor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.orderer.close()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.store.close()

    def add_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    # --- admission ------------------------------------------------------------------

    def admit(self, raws: Sequence[bytes]) -> list[Admission]:
        """Check and queue transactions; each gets its own answer, and refused ones change nothing."""
        if len(raws) > MAX_SUBMIT_BATCH:
            return [Admission(errors.BATCH_TOO_LARGE, f"at most {MAX_SUBMIT_BATCH} per request")] * len(raws)
        now = int(time.time() * 1000)
        out: list[Admission | None] = [None] * len(raws)
        candidates: list[tuple[int, SignedTx]] = []
        for i, (code, message, tx) in enumerate(self._stateless(raws, now)):
            if tx is None:
                out[i] = Admission(code, message)
                continue
            try:
                self._check_target(tx)
            except TxRejected as exc:
                out[i] = Admission(exc.code, exc.message, tx.id)
                continue
            candidates.append((i, tx))
        accepted: list[SignedTx] = []
        with self._lock:
            committed = self.store.known_txs([tx.id for _, tx in candidates])
            for i, tx in candidates:
                if tx.id in self._inflight:
                    out[i] = Admission(
                        errors.REPLAYED, "transaction is already waiting to be committed", tx.id
                    )
                elif tx.id in committed:
                    out[i] = Admission(errors.REPLAYED, "transaction is already committed", tx.id)
                else:
                    self._inflight.add(tx.id)
                    accepted.append(tx)
                    out[i] = Admission(ACCEPTED, "", tx.id)
            try:
                self.orderer.submit(accepted)
            except QueueFull as exc:
                for tx in accepted:
                    self._inflight.discard(tx.id)
                for i, item in enumerate(out):
                    if item is not None and item.accepted:
                        out[i] = Admission(
                            errors.OVERLOADED, f"node is overloaded, retry later ({exc})", item.id
                        )
        result = [item for item in out if item is not None]
        for item in result:
            if not item.accepted:
                self.metrics.rejected.labels(item.code).inc()
        self.metrics.pending.set(len(self._inflight))
        return result

    def _stateless(self, raws: Sequence[bytes], now: int) -> list[tuple[str, str, SignedTx | None]]:
        """Decode, check and verify each transaction: (code, message, tx or None if refused)."""
        if len(raws) >= admission.POOL_MIN_BATCH:
            checked = admission.check_parallel(self.rules, raws, now)
            return [
                (code, message, admission.rebuild(raw, tx_id) if code == admission.PASSED else None)
                for raw, (code, message, tx_id) in zip(raws, checked, strict=True)
            ]
        results = [admission.check_one(self.rules, raw, now) for raw in raws]
        decoded = [tx for _, tx in results if tx is not None]
        valid = iter(
            self.suite.verify_many([(t.body.sender, t.signing_input(), t.signature) for t in decoded])
        )
        out: list[tuple[str, str, SignedTx | None]] = []
        for (code, message, _), tx in results:
            if tx is None:
                out.append((code, message, None))
            elif next(valid):
                out.append((admission.PASSED, "", tx))
            else:
                out.append((errors.BAD_SIGNATURE, "signature does not verify", None))
        return out

    def _check_target(self, tx: SignedTx) -> None:
        contract = self.registry.get(tx.body.contract)
        if contract is None:
            raise TxRejected(errors.UNKNOWN_CONTRACT, f"no contract named '{tx.body.contract}'")
        if tx.body.method not in contract.methods:
            raise TxRejected(
                errors.UNKNOWN_METHOD, f"contract '{contract.name}' has no method '{tx.body.method}'"
            )

    # --- block production ---------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self.orderer.next_batch(timeout=0.5)
                if batch is not None and batch.txs:
                    self._produce(batch)
            except BaseException as exc:  # a failure here must be visible, not silent
                self.error = exc
                log.exception("block production stopped")
                return

    def _produce(self, batch: Batch[SignedTx]) -> None:
        started = time.perf_counter()
        with self._lock:
            unverified = [tx for tx in batch.txs if tx.id not in self._inflight]
        checked = dict(
            zip(
                [tx.id for tx in unverified],
                self.suite.verify_many(
                    [(tx.body.sender, tx.signing_input(), tx.signature) for tx in unverified]
                ),
                strict=True,
            )
        )
        signature_ok = [checked.get(tx.id, True) for tx in batch.txs]
        outcome = apply_block(self.chain, self.parent, batch.time, batch.txs, signature_ok, self.store)
        first = self.parent.header.log_size
        stored = [
            (first + i, tx.id, tx.raw, encoded, result.message)
            for i, (tx, result, encoded) in enumerate(
                zip(outcome.txs, outcome.results, outcome.result_bytes, strict=True)
            )
        ]
        block_hash = self._commit(
            outcome.header, stored, outcome.writes, outcome.log_nodes, outcome.log_frontier
        )
        self.parent = Parent(outcome.header, outcome.log_frontier)
        with self._lock:
            self._inflight.difference_update(tx.id for tx in batch.txs)
        self.metrics.blocks.inc()
        self.metrics.height.set(outcome.header.height)
        self.metrics.pending.set(len(self._inflight))
        for code, count in Counter(r.code for r in outcome.results).items():
            self.metrics.txs.labels(code).inc(count)
        self.metrics.block_seconds.observe(time.perf_counter() - started)
        event = CommitEvent(
            height=outcome.header.height,
            block_hash=block_hash,
            time=outcome.header.time,
            committed=[(tx.id, r.code) for tx, r in zip(outcome.txs, outcome.results, strict=True)],
            dropped=[(tx.id, code, msg) for tx, code, msg in outcome.dropped],
        )
        for listener in self._listeners:
            listener(event)

    def _commit(
        self,
        header: Header,
        txs: list[tuple[int, bytes, bytes, bytes, str]],
        writes: dict[bytes, bytes | None],
        log_nodes: list[tuple[int, int, bytes]],
        frontier: tuple[bytes, ...],
    ) -> bytes:
        header_bytes = header.encode()
        block_hash = self.suite.hash(header_bytes)
        signatures: list[HeaderSignature] = []
        if self.is_signer:
            signatures.append(
                sign_header(self.suite, self.key.keys.private, self.key.keys.public, header_bytes)
            )
        self.store.commit_block(
            BlockWrite(
                height=header.height,
                hash=block_hash,
                header=header_bytes,
                signatures=codec.encode([s.to_value() for s in signatures]),
                frontier=codec.encode(list(frontier)),
                txs=txs,
                writes=writes,
                log_nodes=log_nodes,
            )
        )
        return block_hash

    # --- reads ----------------------------------------------------------------------

    @property
    def height(self) -> int:
        return self.parent.header.height

    def pending(self) -> int:
        return len(self._inflight)

    def query(self, contract: str, name: str, args: dict[str, Any]) -> Any:
        found = self.registry.get(contract)
        if found is None or name not in found.queries:
            raise KeyError(f"{contract}.{name}")
        return found.queries[name](ReadView(self.store, contract), self.suite, args)
