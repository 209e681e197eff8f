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
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as MetricCounter

from govchain import codec
from govchain.crypto import Suite, get_suite
from govchain.ledger import errors
from govchain.ledger.blocks import ChainParams, Genesis, Header, HeaderSignature, genesis_header, sign_header
from govchain.ledger.contracts import Registry
from govchain.ledger.errors import TxRejected
from govchain.ledger.governance import effective_orgs, effective_params
from govchain.ledger.membership import Member, Policy, authorize
from govchain.ledger.orgs import Org, check_orgs, genesis_orgs
from govchain.ledger.signers import signers_at
from govchain.ledger.state_transition import BlockOutcome, ChainContext, Parent, apply_block, policy_in_force
from govchain.ledger.transactions import SignedTx
from govchain.merkle import root_from_leaf_hashes
from govchain.node import admission, signer_changes
from govchain.node.chain import ChainFiles, KeyFile, load_genesis
from govchain.node.private import PrivateStore
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
    committed: list[tuple[bytes, str, str]]  # (tx id, result code, message)
    dropped: list[tuple[bytes, str, str]]  # (tx id, reason code, message)


CommitListener = Callable[[CommitEvent], None]
FinalListener = Callable[[int], None]


class HeaderMismatch(Exception):
    """Executing a block gave another header than the one offered for it."""

    def __init__(self, computed: bytes) -> None:
        super().__init__("the executed block's header differs from the certified one")
        self.computed = computed


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


@dataclass(frozen=True, slots=True)
class _InForce:
    """What governance has set for one height; it can change only at a block boundary."""

    height: int
    params: ChainParams
    orgs: dict[str, Org]
    policies: dict[tuple[str, str], Policy] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Sealed:
    """An executed, signed block on its way to the store."""

    write: BlockWrite
    outcome: BlockOutcome
    batch: Batch[SignedTx]
    started: float

    @property
    def tx_ids(self) -> frozenset[bytes]:
        return frozenset(tx.id for tx in self.outcome.txs)


class _PendingBlocks:
    """Committed state plus the executed blocks not yet written: what the next block reads.

    Committed values read here are remembered (the same member records and governance keys are
    read for most transactions). The store changes only when a block commits, and every block
    passes through `add` or `remove` around its commit; both forget the block's keys and start a
    new generation, and a value read from the store is remembered only if no generation began
    while it was read. So a remembered value is never older than the store. Reads inside a store
    snapshot (an older state, on purpose) bypass the cache.
    """

    CACHE_MAX = 16_384

    def __init__(self, store: Store) -> None:
        self._store = store
        self._blocks: list[tuple[_Sealed, frozenset[bytes]]] = []
        self._lock = threading.Lock()
        self._cache: dict[bytes, bytes | None] = {}
        self._generation = 0

    def add(self, sealed: _Sealed) -> None:
        with self._lock:
            self._blocks.append((sealed, sealed.tx_ids))
            self._forget(sealed.write.writes)

    def remove(self, sealed: _Sealed) -> None:
        """Called after the block is committed, so the store already answers for it."""
        with self._lock:
            self._blocks = [b for b in self._blocks if b[0] is not sealed]
            self._forget(sealed.write.writes)

    def _forget(self, writes: dict[bytes, bytes | None]) -> None:
        self._generation += 1
        cache = self._cache
        for key in writes:
            cache.pop(key, None)

    def get(self, key: bytes) -> bytes | None:
        return self.state_get(key)

    def state_get(self, key: bytes) -> bytes | None:
        with self._lock:
            blocks = list(self._blocks)
            generation = self._generation
        for sealed, _ in reversed(blocks):
            writes = sealed.write.writes
            if key in writes:
                return writes[key]
        if self._store.open_snapshots and self._store.in_snapshot():  # an older state on purpose: no cache
            return self._store.state_get(key)
        cache = self._cache
        if key in cache:
            try:
                return cache[key]
            except KeyError:  # forgotten by another thread just now
                pass
        value = self._store.state_get(key)
        with self._lock:
            if self._generation == generation:
                if len(cache) >= self.CACHE_MAX:
                    cache.clear()
                cache[key] = value
        return value

    def known_txs(self, tx_ids: Sequence[bytes]) -> set[bytes]:
        with self._lock:
            blocks = list(self._blocks)
        found = {tx_id for tx_id in tx_ids for _, ids in blocks if tx_id in ids}
        return found | self._store.known_txs(tx_ids)


class Node:
    def __init__(self, data_dir: Path, registry: Registry, orderer: Orderer[SignedTx] | None = None) -> None:
        self.files = ChainFiles(data_dir)
        self.genesis: Genesis = load_genesis(data_dir)
        self.suite: Suite = get_suite(self.genesis.suite)
        self.key = KeyFile.load(self.files.node_key)
        if self.key.suite != self.suite.name:
            raise ValueError(f"node key is for suite {self.key.suite}, the chain uses {self.suite.name}")
        self.orgs = genesis_orgs(self.genesis)
        check_orgs(self.suite, self.orgs, self.genesis.time)
        self.chain = ChainContext(self.suite, self.genesis, registry, {org.id: org for org in self.orgs})
        self.registry = registry
        self.store = Store(self.files.db)
        self.private = PrivateStore(data_dir, self.suite)  # never on chain: e.g. licence data
        self.genesis_hash = self.suite.hash(self.files.genesis.read_bytes())
        self.metrics = NodeMetrics()
        self.orderer: Orderer[SignedTx] = orderer or SoloOrderer(self._block_limits)
        self._lock = threading.Lock()
        # admitted here and not yet committed: id -> the exact bytes whose signature was verified
        self._inflight: dict[bytes, bytes] = {}
        self._listeners: list[CommitListener] = [lambda event: signer_changes.capture(self, event)]
        self._final_listeners: list[FinalListener] = []
        # Without a finality tracker (solo) this node's own signature is the whole quorum, so a
        # committed block is final; `use_quorum_finality` hands that to a tracker instead.
        self.finality_by_quorum = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.parent = self._load_parent()  # the last executed block (the executor's view)
        self.head = self.parent  # the last committed block (what reads serve)
        self._pending = _PendingBlocks(self.store)
        self.final_height = self.parent.header.height
        self._in_force_cache: _InForce | None = None
        self._commit_queue: queue.Queue[_Sealed | None] = queue.Queue(maxsize=1)
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
        self.store.commit_block(self._seal(header, [], {}, [], ()))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="govchain-executor", daemon=True)
        self._thread.start()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        self.orderer.close()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.store.close()
        self.private.close()

    # --- signer sets (ledger/signers.py) ----------------------------------------------

    def signers(self, height: int) -> tuple[bytes, ...]:
        """The keys whose signatures count for block `height` (executed blocks' state included)."""
        return self.genesis.signers if height == 0 else signers_at(self.genesis, self._pending, height)

    def signs(self, height: int) -> bool:
        return self.key.keys.public in self.signers(height)

    @property
    def is_signer(self) -> bool:
        """This peer's signature counts for the next block."""
        return self.signs(self.parent.header.height + 1)

    def add_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def add_final_listener(self, listener: FinalListener) -> None:
        """Called with each new final height (on the finality tracker's or the committer's thread)."""
        self._final_listeners.append(listener)

    def use_quorum_finality(self) -> None:
        """A tracker that counts organisations' signatures (node/finality.py) announces finality."""
        self.finality_by_quorum = True
        self.final_height = 0

    def announce_final(self, height: int) -> None:
        if height <= self.final_height:
            return
        self.final_height = height
        for listener in self._final_listeners:
            listener(height)

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
                self._check_target(tx, now)
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
                    self._inflight[tx.id] = tx.raw
                    accepted.append(tx)
                    out[i] = Admission(ACCEPTED, "", tx.id)
            try:
                self.orderer.submit(accepted)
            except QueueFull as exc:
                for tx in accepted:
                    self._inflight.pop(tx.id, None)
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
        params = self.params()
        rules = admission.AdmissionRules(
            self.suite.name, self.genesis.chain_id, params.max_tx_bytes, params.max_tx_ttl_ms
        )
        if len(raws) >= admission.POOL_MIN_BATCH:
            checked = admission.check_parallel(rules, raws, now)
            return [
                (code, message, admission.rebuild(raw, tx_id) if code == admission.PASSED else None)
                for raw, (code, message, tx_id) in zip(raws, checked, strict=True)
            ]
        results = [admission.check_one(rules, raw, now) for raw in raws]
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

    def _in_force(self) -> _InForce:
        """Governance decisions in force for the next block, read once per height."""
        height = self.parent.header.height + 1
        cached = self._in_force_cache
        if cached is None or cached.height != height:
            orgs = effective_orgs(self.orgs, self._pending, height) if self.chain.consortium else {}
            cached = _InForce(height, effective_params(self.genesis, self._pending, height), orgs)
            self._in_force_cache = cached
        return cached

    def params(self) -> ChainParams:
        """The chain parameters in force for the next block (governance may have changed them)."""
        return self._in_force().params

    def current_orgs(self) -> dict[str, Org]:
        """The organisations in force for the next block (governance may have changed them)."""
        return self._in_force().orgs

    def _block_limits(self) -> tuple[int, int]:
        params = self.params()
        return params.max_block_txs, params.block_time_ms

    def _check_target(self, tx: SignedTx, now: int) -> None:
        """The contract and method exist, and the sender may call it (the state machine checks again)."""
        contract = self.registry.get(tx.body.contract)
        if contract is None:
            raise TxRejected(errors.UNKNOWN_CONTRACT, f"no contract named '{tx.body.contract}'")
        if tx.body.method not in contract.methods:
            raise TxRejected(
                errors.UNKNOWN_METHOD, f"contract '{contract.name}' has no method '{tx.body.method}'"
            )
        self.authorize_sender(contract.name, tx.body.method, tx.body.sender, now)

    def authorize_sender(self, contract: str, method: str, sender: bytes, now: int) -> Member | None:
        """The member `sender` is, if the method policy in force lets it call `contract.method`;
        raises TxRejected otherwise. None on a development chain, which is open."""
        if not self.chain.consortium:
            return None
        found = self.registry.get(contract)
        if found is None:
            raise TxRejected(errors.UNKNOWN_CONTRACT, f"no contract named '{contract}'")
        in_force = self._in_force()
        policy = policy_in_force(self._pending, found, method, in_force.height, in_force.policies)
        return authorize(True, self._pending, sender, policy, now, in_force.orgs)

    # --- block production ---------------------------------------------------------
    #
    # Two threads form a pipeline: the executor runs block N+1 while the committer
    # writes block N to SQLite (which releases the GIL). At most two blocks are
    # uncommitted at once; the executor reads through `_pending`, which layers their
    # writes over the store, so execution always sees every earlier block.
    # Clients are told a transaction is committed only after its block's commit.

    def _run(self) -> None:
        committer = threading.Thread(target=self._commit_loop, name="govchain-committer", daemon=True)
        committer.start()
        try:
            while not self._stop.is_set() and self.error is None:
                batch = self.orderer.next_batch(timeout=0.5)
                if batch is not None and batch.txs:
                    sealed = self._execute(batch)
                    self._pending.add(sealed)
                    self._commit_queue.put(sealed)
        except BaseException as exc:  # a failure here must be visible, not silent
            self.error = exc
            log.exception("block production stopped")
        finally:
            self._commit_queue.put(None)
            committer.join()

    def _execute(self, batch: Batch[SignedTx]) -> _Sealed:
        """Run the state transition and sign the header; nothing is written yet."""
        started = time.perf_counter()
        # A shared orderer (network) also delivers transactions admitted by other peers, or the same
        # body with other signature bytes: only the exact bytes verified at admission here are trusted.
        with self._lock:
            trusted = [self._inflight.get(tx.id) == tx.raw for tx in batch.txs]
        unverified = [tx for tx, ok in zip(batch.txs, trusted, strict=True) if not ok]
        valid = iter(
            self.suite.verify_many([(tx.body.sender, tx.signing_input(), tx.signature) for tx in unverified])
        )
        signature_ok = [ok or next(valid) for ok in trusted]
        outcome = apply_block(self.chain, self.parent, batch.time, batch.txs, signature_ok, self._pending)
        first, height = self.parent.header.log_size, outcome.header.height
        stored = [
            (first + i, tx.id, height, tx.raw, encoded, result.message)
            for i, (tx, result, encoded) in enumerate(
                zip(outcome.txs, outcome.results, outcome.result_bytes, strict=True)
            )
        ]
        o = outcome
        write = self._seal(o.header, stored, o.writes, o.log_nodes, o.log_frontier, o.state_parts)
        self.parent = Parent(outcome.header, outcome.log_frontier)
        return _Sealed(write, outcome, batch, started)

    def apply_certified(
        self, batch: Batch[SignedTx], header: bytes, certificate: list[HeaderSignature]
    ) -> None:
        """Execute a block another peer served and commit it only if this peer computes the very header
        the certificate signs (catch-up, node/catchup.py). Call only while the orderer delivers nothing;
        raises HeaderMismatch, having changed nothing, if the headers differ."""
        before = self.parent
        sealed = self._execute(batch)
        if sealed.write.header != header:
            self.parent = before
            raise HeaderMismatch(sealed.write.header)
        own = [HeaderSignature.from_value(s) for s in codec.decode(sealed.write.signatures)]
        signers = {s.signer for s in own}
        merged = own + [s for s in certificate if s.signer not in signers]
        write = replace(sealed.write, signatures=codec.encode([s.to_value() for s in merged]))
        self._commit_sealed(replace(sealed, write=write))

    def _commit_loop(self) -> None:
        while True:
            sealed = self._commit_queue.get()
            if sealed is None:
                return
            try:
                self._commit_sealed(sealed)
            except BaseException as exc:
                self.error = exc
                log.exception("block commit failed; block production stops")
                self.orderer.close()
                return

    def _commit_sealed(self, sealed: _Sealed) -> None:
        outcome = sealed.outcome
        self.store.commit_block(sealed.write)
        self.head = Parent(outcome.header, outcome.log_frontier)
        self._pending.remove(sealed)
        with self._lock:
            for tx in sealed.batch.txs:
                self._inflight.pop(tx.id, None)
        self.metrics.blocks.inc()
        self.metrics.height.set(outcome.header.height)
        self.metrics.pending.set(len(self._inflight))
        for code, count in Counter(r.code for r in outcome.results).items():
            self.metrics.txs.labels(code).inc(count)
        self.metrics.block_seconds.observe(time.perf_counter() - sealed.started)
        event = CommitEvent(
            height=outcome.header.height,
            block_hash=sealed.write.hash,
            time=outcome.header.time,
            committed=[
                (tx.id, r.code, r.message) for tx, r in zip(outcome.txs, outcome.results, strict=True)
            ],
            dropped=[(tx.id, code, msg) for tx, code, msg in outcome.dropped],
        )
        for listener in self._listeners:
            listener(event)
        if not self.finality_by_quorum:
            self.announce_final(outcome.header.height)

    def _seal(
        self,
        header: Header,
        txs: list[tuple[int, bytes, int, bytes, bytes, str]],
        writes: dict[bytes, bytes | None],
        log_nodes: list[tuple[int, int, bytes]],
        frontier: tuple[bytes, ...],
        state_parts: tuple[bytes, bytes, bytes] | None = None,
    ) -> BlockWrite:
        """Sign the header and assemble everything the block writes."""
        header_bytes = header.encode()
        signatures: list[HeaderSignature] = []
        if self.signs(header.height):
            signatures.append(
                sign_header(self.suite, self.key.keys.private, self.key.keys.public, header_bytes)
            )
        return BlockWrite(
            height=header.height,
            hash=self.suite.hash(header_bytes),
            header=header_bytes,
            signatures=codec.encode([s.to_value() for s in signatures]),
            frontier=codec.encode(list(frontier)),
            txs=txs,
            writes=writes,
            log_nodes=log_nodes,
            state_parts=None if state_parts is None else codec.encode(list(state_parts)),
        )

    # --- reads ----------------------------------------------------------------------

    @property
    def height(self) -> int:
        return self.head.header.height

    def pending(self) -> int:
        return len(self._inflight)

    def query(self, contract: str, name: str, args: dict[str, Any]) -> Any:
        found = self.registry.get(contract)
        if found is None or name not in found.queries:
            raise KeyError(f"{contract}.{name}")
        return found.queries[name](ReadView(self.store, contract), self.suite, args)

    def restricted_query(self, contract: str, name: str, args: dict[str, Any]) -> Any:
        """Run a restricted query. Only for a committed, successful `audit.read` (api: /v1/reads)."""
        found = self.registry.get(contract)
        if found is None or name not in found.restricted:
            raise KeyError(f"{contract}.{name}")
        restricted, view = found.restricted[name], ReadView(self.store, contract)
        if restricted.private is not None:
            return restricted.private(view, self.private, self.suite, args)
        assert restricted.query is not None
        return restricted.query(view, self.suite, args)
