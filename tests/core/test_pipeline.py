"""Pipelined blocks: a block executes while the previous one is still being committed.

Each `inc` reads the counter written by earlier transactions, often in a block
that is not yet on disk. If the overlay of uncommitted blocks were wrong, two
transactions would read the same value and the results would repeat.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from govchain.contracts.notary.contract import CONTRACT as NOTARY
from govchain.ledger.blocks import ChainParams
from govchain.ledger.contracts import Context, Contract, Registry
from govchain.ledger.results import TxResult
from govchain.ledger.transactions import make_tx
from govchain.node.chain import create_dev_chain
from govchain.node.node import CommitEvent, Node


def inc(ctx: Context, args: dict[str, Any]) -> int:
    value: int = (ctx.state.get(b"n") or 0) + 1
    ctx.state.put(b"n", value)
    return value


COUNTER = Contract(name="counter", methods={"inc": inc})


@pytest.mark.parametrize("readers", [0, 3])
def test_each_block_sees_the_uncommitted_one_before_it(tmp_path: Path, readers: int) -> None:
    """With `readers`, other threads keep reading the counter through the executor's view (as
    admission does), filling its read cache while blocks execute and commit beside them."""
    data = tmp_path / "node"
    create_dev_chain(data, "intl", params=ChainParams(max_block_txs=3, block_time_ms=1))
    node = Node(data, Registry([NOTARY, COUNTER]))
    committed: list[CommitEvent] = []
    done = threading.Event()
    total = 150

    def listen(event: CommitEvent) -> None:
        committed.append(event)
        if sum(len(e.committed) for e in committed) >= total:
            done.set()

    node.add_listener(listen)
    node.start()
    stop = threading.Event()
    counter_key = b"counter/n"

    def read_forever() -> None:
        while not stop.is_set():
            node._pending.state_get(counter_key)

    threads = [threading.Thread(target=read_forever, daemon=True) for _ in range(readers)]
    for thread in threads:
        thread.start()
    try:
        key = node.suite.generate_keypair()
        expiry = int(time.time() * 1000) + 60_000
        for _ in range(total):
            tx = make_tx(node.suite, key, node.genesis.chain_id, "counter", "inc", {}, expiry)
            (admission,) = node.admit([tx.raw])
            assert admission.accepted
        assert done.wait(30), "not everything was committed"
        heights = [e.height for e in committed]
        assert heights == sorted(heights) and len(set(heights)) == len(heights)
        assert len(heights) >= total // 3  # many blocks, so the pipeline really overlapped
        values = []
        for event in committed:
            for tx_id, code, _ in event.committed:
                assert code == "ok"
                stored = node.store.tx(tx_id)
                assert stored is not None
                values.append(TxResult.decode(stored.result).data)
        assert values == list(range(1, total + 1))
        assert node.height == committed[-1].height
        assert node._pending.state_get(counter_key) == node.store.state_get(counter_key)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        node.stop()


def test_admission_survives_a_killed_worker(tmp_path: Path) -> None:
    """A worker killed mid-life: the batch is still checked, and the pool comes back."""
    import os
    import signal

    from govchain.node import admission

    data = tmp_path / "node"
    create_dev_chain(data, "intl", params=ChainParams(block_time_ms=5))
    node = Node(data, Registry([NOTARY]))
    node.start()
    try:
        key = node.suite.generate_keypair()
        expiry = int(time.time() * 1000) + 60_000

        def batch(n: int) -> list[bytes]:
            chain_id = node.genesis.chain_id
            return [
                make_tx(node.suite, key, chain_id, "notary", "anchor", {"digest": os.urandom(32)}, expiry).raw
                for _ in range(n)
            ]

        first = batch(admission.POOL_MIN_BATCH)
        assert all(a.accepted for a in node.admit(first))  # starts the pool
        victim = next(iter(admission.pool()._processes))
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.5)
        second = batch(admission.POOL_MIN_BATCH)
        answers = node.admit(second)
        assert all(a.accepted for a in answers), {a.code for a in answers}
        third = batch(admission.POOL_MIN_BATCH)
        assert all(a.accepted for a in node.admit(third))  # a fresh pool serves again
        assert node.admit(first[:1])[0].code == "replayed"
    finally:
        node.stop()


def test_admission_workers_can_start_before_the_first_batch() -> None:
    from govchain.node import admission

    admission.shutdown()  # whatever an earlier test left
    admission.warm_up()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        processes = dict(admission.pool()._processes)
        if len(processes) == (os.cpu_count() or 1) and all(p.is_alive() for p in processes.values()):
            break
        time.sleep(0.1)
    assert len(processes) == (os.cpu_count() or 1)
    admission.shutdown()
    assert not any(p.is_alive() for p in processes.values())  # and they end with the node


WORKERS_THEN_DIE = """
import os, signal, sys, time
from govchain.node import admission
admission.warm_up()
while len(admission.pool()._processes) < (os.cpu_count() or 1):
    time.sleep(0.05)
time.sleep(1.0)  # the workers have run their initializer
with open(sys.argv[1], "w") as out:
    out.write(" ".join(str(pid) for pid in admission.pool()._processes))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_admission_workers_end_when_their_node_is_killed(tmp_path: Path) -> None:
    import subprocess
    import sys

    # no pipes: workers that outlived their node would hold them open
    pids = tmp_path / "workers"
    code = subprocess.call([sys.executable, "-c", WORKERS_THEN_DIE, str(pids)], timeout=120)
    assert code == -signal.SIGKILL
    workers = [int(pid) for pid in pids.read_text().split()]
    assert len(workers) == (os.cpu_count() or 1)

    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split(")")[-1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)
