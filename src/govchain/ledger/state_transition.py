"""The state transition: (parent block, ordered transactions) -> the next block.

Every peer runs exactly this function on exactly the same input and must reach
the same header. It reads top to bottom:

1. fix the block's height and time (time never goes backwards);
2. for each transaction: leave it out if it fails an admission check
   (signature, replay, chain, expiry); otherwise run its contract method on a
   private overlay and record a result, keeping the writes only on success;
3. compute the roots (transactions, results, state, log) and the header.

Nothing here touches the disk: the caller commits the outcome atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from govchain import codec, merkle, smt
from govchain.crypto import Suite
from govchain.ledger import errors
from govchain.ledger.blocks import ChainParams, Genesis, Header
from govchain.ledger.contracts import Context, Contract, Registry
from govchain.ledger.errors import ContractError, TxRejected
from govchain.ledger.governance import effective_orgs, effective_params, effective_policy
from govchain.ledger.membership import Policy, RawState, authorize, policy_of
from govchain.ledger.orgs import Org
from govchain.ledger.results import TxResult, log_leaf
from govchain.ledger.transactions import SignedTx, check_tx_context
from govchain.state import (
    BlockState,
    ContractState,
    ProvableNodes,
    StateReader,
    state_root_from_parts,
    write_set_root,
)


class ChainReader(StateReader, Protocol):
    """Committed chain data the transition may consult (deterministic on every peer)."""

    def known_txs(self, tx_ids: Sequence[bytes]) -> set[bytes]:
        """Which of these transaction ids are already committed."""
        ...


@dataclass(frozen=True, slots=True)
class ChainContext:
    """What is fixed for the life of a chain (until governance changes it)."""

    suite: Suite
    genesis: Genesis
    registry: Registry
    orgs: Mapping[str, Org] = field(default_factory=dict)  # empty: a development chain (open)

    @property
    def consortium(self) -> bool:
        return bool(self.orgs)


@dataclass(frozen=True, slots=True)
class Parent:
    """The last committed block, as the next transition needs it."""

    header: Header
    log_frontier: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class BlockOutcome:
    header: Header
    txs: list[SignedTx]
    results: list[TxResult]
    result_bytes: list[bytes]
    writes: dict[bytes, bytes | None]
    log_nodes: list[tuple[int, int, bytes]]
    log_frontier: tuple[bytes, ...]
    dropped: list[tuple[SignedTx, str, str]]  # (tx, reason code, message)
    # (previous state root, write-set root, provable root) when the state root binds a provable root
    state_parts: tuple[bytes, bytes, bytes] | None = None


def apply_block(
    chain: ChainContext,
    parent: Parent,
    time: int,
    txs: Sequence[SignedTx],
    signature_ok: Sequence[bool],
    reader: ChainReader,
) -> BlockOutcome:
    suite = chain.suite
    height = parent.header.height + 1
    time = max(time, parent.header.time)

    block_state = BlockState(reader)
    params = effective_params(chain.genesis, block_state, height)  # as governance set them for this height
    orgs = effective_orgs(list(chain.orgs.values()), block_state, height) if chain.consortium else {}
    policies: dict[tuple[str, str], Policy] = {}  # method policies in force, looked up once per block
    included: list[SignedTx] = []
    results: list[TxResult] = []
    result_bytes: list[bytes] = []
    dropped: list[tuple[SignedTx, str, str]] = []
    seen = reader.known_txs([tx.id for tx in txs])  # committed before: a replay
    for tx, sig_ok in zip(txs, signature_ok, strict=True):
        try:
            admit_in_block(chain, params, tx, sig_ok, time, seen)
        except TxRejected as exc:
            dropped.append((tx, exc.code, exc.message))
            continue
        seen.add(tx.id)
        included.append(tx)
        result, encoded = apply_tx(chain, block_state, tx, height, time, params, orgs, policies)
        results.append(result)
        result_bytes.append(encoded)

    result_hashes = [suite.hash(b) for b in result_bytes]
    h = suite.hash
    provable_root = update_provable(h, chain.registry.provable_prefixes, block_state)
    state_root, parts = parent.header.state_root, None
    if block_state.writes:  # a block that writes nothing keeps the state root
        write_set = write_set_root(h, block_state.writes)
        state_root = state_root_from_parts(h, parent.header.state_root, write_set, provable_root)
        if provable_root != smt.EMPTY:
            parts = (parent.header.state_root, write_set, provable_root)
    log = merkle.MerkleLog(h, parent.header.log_size, list(parent.log_frontier))
    log_nodes = log.append_many(
        [merkle.leaf_hash(h, log_leaf(tx.id, rh)) for tx, rh in zip(included, result_hashes, strict=True)]
    )
    header = Header(
        chain=chain.genesis.chain_id,
        height=height,
        prev=parent.header.hash(suite),
        time=time,
        tx_count=len(included),
        tx_root=merkle.root_from_leaf_hashes(h, [merkle.leaf_hash(h, tx.id) for tx in included]),
        result_root=merkle.root_from_leaf_hashes(h, [merkle.leaf_hash(h, rh) for rh in result_hashes]),
        state_root=state_root,
        log_size=log.size,
        log_root=log.root(),
    )
    return BlockOutcome(
        header,
        included,
        results,
        result_bytes,
        block_state.writes,
        log_nodes,
        tuple(log.frontier),
        dropped,
        parts,
    )


def update_provable(
    h: Callable[[bytes], bytes], prefixes: tuple[bytes, ...], block_state: BlockState
) -> bytes:
    """Carry the block's writes to provable keys into the sparse Merkle tree; its root after them.

    Leaves are `H(key)` -> `H(value)`; a deleted key leaves the tree. Nothing to do (and
    EMPTY) on a chain whose contracts declare nothing provable.
    """
    if not prefixes or not block_state.writes:
        return smt.EMPTY
    changes = {
        h(key): None if value is None else h(value)
        for key, value in block_state.writes.items()
        if key.startswith(prefixes)
    }
    return smt.update(h, ProvableNodes(block_state), changes)


def admit_in_block(
    chain: ChainContext, params: ChainParams, tx: SignedTx, signature_ok: bool, time: int, seen: set[bytes]
) -> None:
    """The admission checks again, now against the block's time and everything committed before it."""
    if not signature_ok:
        raise TxRejected(errors.BAD_SIGNATURE, "signature does not verify")
    if tx.id in seen:
        raise TxRejected(errors.REPLAYED, "transaction already committed")
    check_tx_context(tx, chain.genesis.chain_id, time, params.max_tx_ttl_ms)


def apply_tx(
    chain: ChainContext,
    block_state: BlockState,
    tx: SignedTx,
    height: int,
    time: int,
    params: ChainParams | None = None,
    orgs: Mapping[str, Org] | None = None,
    policies: dict[tuple[str, str], Policy] | None = None,
) -> tuple[TxResult, bytes]:
    """Run one transaction's method; its writes survive only if it succeeds.

    Returns the result and its encoding (encoding it here also proves the
    method's return value is inside the data model).
    """
    name, method_name = tx.body.contract, tx.body.method

    def failed(code: object, message: object) -> tuple[TxResult, bytes]:
        # A contract may hand us anything; the result holds only text.
        if type(code) is not str or not code:
            code, message = errors.CONTRACT_ERROR, f"contract failed with a malformed code: {message!r}"
        result = TxResult(name, method_name, code, message if type(message) is str else repr(message))
        return result, result.encode()

    contract = chain.registry.get(name)
    if contract is None:
        return failed(errors.UNKNOWN_CONTRACT, f"no contract named '{name}'")
    method = contract.methods.get(method_name)
    if method is None:
        return failed(errors.UNKNOWN_METHOD, f"contract '{name}' has no method '{method_name}'")
    orgs = chain.orgs if orgs is None else orgs
    try:
        member = None
        if chain.consortium:  # a development chain applies no policies
            policy = policy_in_force(
                block_state, contract, method_name, height, {} if policies is None else policies
            )
            member = authorize(True, block_state, tx.body.sender, policy, time, orgs)
    except TxRejected as exc:
        return failed(exc.code, exc.message)
    tx_state = block_state.begin()
    ctx = Context(
        suite=chain.suite,
        chain_id=chain.genesis.chain_id,
        height=height,
        time=time,
        tx_id=tx.id,
        sender=tx.body.sender,
        state=ContractState(tx_state, name),
        member=member,
        orgs=orgs,
        params=params or chain.genesis.params,
        read_policies=chain.registry.read_policies,
        catalogue=tx_state,
        genesis_signers=chain.genesis.signers,
    )
    try:
        result = TxResult(name, method_name, errors.OK, "", ctx.events, method(ctx, tx.body.args))
        encoded = result.encode()
    except ContractError as exc:
        return failed(exc.code, exc.message)
    except codec.CodecError as exc:
        return failed(errors.CONTRACT_ERROR, f"method returned or stored an unencodable value: {exc}")
    except MemoryError:
        raise  # not deterministic: this peer must stop rather than diverge
    except Exception as exc:
        # A contract bug must not halt the chain: every peer fails the same
        # transaction the same way, and drops its writes.
        return failed(errors.CONTRACT_ERROR, f"contract raised {type(exc).__name__}")
    tx_state.commit()
    return result, encoded


def policy_in_force(
    state: RawState, contract: Contract, method: str, height: int, cache: dict[tuple[str, str], Policy]
) -> Policy:
    """The policy in force for a method: a governance override, else the contract's own.

    Looked up once per block: an override can only change at a block boundary.
    """
    key = (contract.name, method)
    found = cache.get(key)
    if found is None:
        found = effective_policy(state, contract.name, method, height) or policy_of(contract.policies, method)
        cache[key] = found
    return found
