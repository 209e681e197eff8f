"""The recent layer: the state and tx-id indexes lag behind the blocks, and reads never notice.

A store with a tiny layer (merges every few keys, a slice or two per commit) is compared with a
plain dictionary after every block and every reopening; snapshots keep their view while blocks
commit and merges finish; kill -9 at any moment loses nothing the blocks hold.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from govchain.store.sqlite import SCHEMA_VERSION, BlockWrite, Store

KEYS = [bytes([p]) + bytes([i]) for p in b"ab" for i in range(6)]  # two prefixes, six keys each


def block(height: int, writes: dict[bytes, bytes | None], ids: list[bytes], first_index: int) -> BlockWrite:
    txs = [(first_index + i, tx_id, height, b"env", b"res", "") for i, tx_id in enumerate(ids)]
    return BlockWrite(height, height.to_bytes(32, "big"), b"h", b"\x80", b"\x80", txs, writes, [])


class Model:
    """What the store must answer: the latest live value of each key, and every committed id."""

    def __init__(self) -> None:
        self.state: dict[bytes, tuple[bytes, int]] = {}
        self.ids: dict[bytes, int] = {}
        self.height = 0
        self.next_index = 0

    def commit(self, store: Store, writes: dict[bytes, bytes | None], id_count: int) -> None:
        self.height += 1
        ids = [b"tx%d" % (self.next_index + i) for i in range(id_count)]
        store.commit_block(block(self.height, writes, ids, self.next_index))
        for key, value in writes.items():
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = (value, self.height)
        for i, tx_id in enumerate(ids):
            self.ids[tx_id] = self.next_index + i
        self.next_index += id_count

    def check(self, store: Store) -> None:
        for key in KEYS:
            live = self.state.get(key)
            assert store.state_get(key) == (None if live is None else live[0]), key
            assert store.state_height(key) == (None if live is None else live[1]), key
        for prefix in (b"", b"a", b"b", b"a\x03"):
            expected = sorted((k, v) for k, (v, _) in self.state.items() if k.startswith(prefix))
            for limit in (1, 3, 100):
                assert store.state_scan(prefix, limit) == expected[:limit]
                assert store.state_scan(prefix, limit, reverse=True) == expected[::-1][:limit]
        asked = [*self.ids, b"never", b"tx%d" % self.next_index]
        assert store.known_txs(asked) == set(self.ids)
        for tx_id, log_index in self.ids.items():
            stored = store.tx(tx_id)
            assert stored is not None and stored.log_index == log_index and stored.id == tx_id
        assert store.tx(b"never") is None and not store.has_tx(b"never")


values = st.none() | st.binary(min_size=1, max_size=3)
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("block"), st.dictionaries(st.sampled_from(KEYS), values, max_size=6), st.integers(0, 4)
        ),
        st.just(("reopen",)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(steps, st.integers(1, 12), st.integers(1, 4))
def test_reads_match_a_plain_dictionary_through_merges_and_reopenings(
    script: list[tuple[object, ...]], recent_entries: int, merge_slice: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chain.db"
        store = Store(path, recent_entries=recent_entries, merge_slice=merge_slice)
        model = Model()
        for step in script:
            if step[0] == "reopen":
                store.close()
                store = Store(path, recent_entries=recent_entries, merge_slice=merge_slice)
            else:
                _, writes, id_count = step
                model.commit(store, writes, id_count)  # type: ignore[arg-type]
            model.check(store)
        store.close()


def test_merges_move_the_layer_into_the_indexes(tmp_path: Path) -> None:
    store = Store(tmp_path / "chain.db", recent_entries=10, merge_slice=3)
    model = Model()
    for n in range(30):
        model.commit(store, {KEYS[n % len(KEYS)]: b"v%d" % n}, 2)
    model.check(store)
    store.close()
    with sqlite3.connect(tmp_path / "chain.db") as conn:
        merged = int(conn.execute("SELECT v FROM meta WHERE k = 'merged_height'").fetchone()[0])
        in_index = conn.execute("SELECT count(*) FROM tx_ids").fetchone()[0]
        in_state = conn.execute("SELECT count(*) FROM state").fetchone()[0]
    assert merged >= 20  # 90 keys and ids over 30 blocks: several merges finished
    assert in_index >= 40 and in_state == len(KEYS)


def test_a_scan_skips_merged_keys_the_layer_deleted(tmp_path: Path) -> None:
    store = Store(tmp_path / "chain.db", recent_entries=3, merge_slice=10)
    model = Model()
    model.commit(store, {b"a1": b"1", b"a2": b"2", b"a3": b"3", b"a4": b"4"}, 0)  # frozen
    model.commit(store, {}, 1)  # merged with this commit
    assert store.meta_get("merged_height") == b"1"
    model.commit(store, {b"a1": None, b"a2": None, b"a4": None}, 0)  # held in the layer only
    assert store.state_scan(b"a", 1) == [(b"a3", b"3")]
    assert store.state_scan(b"a", 1, reverse=True) == [(b"a3", b"3")]
    model.check(store)
    store.close()


def test_a_snapshot_keeps_its_view_while_blocks_commit_and_merges_finish(tmp_path: Path) -> None:
    store = Store(tmp_path / "chain.db", recent_entries=4, merge_slice=2)
    model = Model()
    model.commit(store, {b"a1": b"old", b"a2": b"gone-later", b"b1": b"x"}, 3)
    with store.snapshot():
        before = (store.state_get(b"a1"), store.state_scan(b"a", 10), store.known_txs([b"tx3", b"tx0"]))
        for n in range(12):  # overwrite, delete, add ids: enough for two merges to finish
            model.commit(store, {b"a1": b"new%d" % n, b"a2": None, b"a3": b"n"}, 2)
        assert store.state_get(b"a1") == b"old" and store.state_height(b"a1") == 1
        assert store.state_scan(b"a", 10) == [(b"a1", b"old"), (b"a2", b"gone-later")]
        assert store.known_txs([b"tx3", b"tx0"]) == {b"tx0"} and store.tx(b"tx3") is None
        assert before == (b"old", [(b"a1", b"old"), (b"a2", b"gone-later")], {b"tx0"})
    model.check(store)  # and outside it, the latest
    assert int(store.meta_get("merged_height") or b"-1") >= 5
    store.close()


WRITER = """
import sys
from pathlib import Path
from govchain.store.sqlite import BlockWrite, Store
store = Store(Path(sys.argv[1]), recent_entries=200, merge_slice=16)
latest = store.latest_block()
height = 0 if latest is None else latest.height
index = store.tx_count()
first = height + 1
while True:
    height += 1
    ids = [b"t%d" % (index + i) for i in range(7)]
    txs = [(index + i, tx_id, height, b"e", b"r", "") for i, tx_id in enumerate(ids)]
    writes = {b"k%d" % ((height * 13 + i) % 97): (None if i == 2 else b"%d" % height) for i in range(5)}
    head = height.to_bytes(32, "big")
    store.commit_block(BlockWrite(height, head, b"h", b"\\x80", b"\\x80", txs, writes, []))
    index += 7
    if height == first:
        print("started", flush=True)
"""


def test_kill_9_during_merges_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    merged_seen = set()
    for delay in (0.3, 0.55, 0.8, 1.1, 0.45):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        assert proc.stdout is not None and proc.stdout.readline() == b"started\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = Store(path, recent_entries=200, merge_slice=16)
        latest = store.latest_block()
        assert latest is not None
        expected: dict[bytes, tuple[bytes, int]] = {}
        for height in range(1, latest.height + 1):  # what the blocks hold, folded
            for key, value in store.state_changes(height):
                if value is None:
                    expected.pop(key, None)
                else:
                    expected[key] = (value, height)
        for n in range(97):
            key = b"k%d" % n
            assert store.state_get(key) == expected.get(key, (None,))[0], key
            assert store.state_height(key) == expected.get(key, (None, None))[1], key
        assert store.state_scan(b"k", 1000) == sorted((k, v) for k, (v, _) in expected.items())
        count = store.tx_count()
        assert count == latest.height * 7
        assert store.known_txs([b"t%d" % i for i in range(count + 3)]) == {b"t%d" % i for i in range(count)}
        merged_seen.add(int(store.meta_get("merged_height") or b"-1"))
        store.close()
    assert max(merged_seen) > 0  # the kills did land after merges had begun to finish


def test_a_version_3_store_moves_its_tx_ids_into_the_index(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    store = Store(path)
    model = Model()
    model.commit(store, {b"a1": b"x"}, 3)
    model.commit(store, {b"a2": b"y", b"a1": None}, 2)
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)  # make it what version 3 wrote
    conn.execute("ALTER TABLE txs RENAME TO txs_new")
    conn.execute(
        "CREATE TABLE txs (log_index INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, height INTEGER NOT NULL,"
        " envelope BLOB NOT NULL, result BLOB NOT NULL, message TEXT NOT NULL)"
    )
    conn.execute("INSERT INTO txs SELECT * FROM txs_new")
    conn.execute("DROP TABLE txs_new")
    conn.execute("DROP TABLE tx_ids")
    conn.execute("DELETE FROM meta WHERE k = 'merged_height'")
    conn.execute("DELETE FROM state")
    conn.executemany("INSERT INTO state VALUES (?, ?, ?)", [(k, v, h) for k, (v, h) in model.state.items()])
    conn.execute("UPDATE meta SET v = ? WHERE k = 'schema'", (b"3",))
    conn.close()

    store = Store(path)
    assert store.meta_get("schema") == str(SCHEMA_VERSION).encode()
    assert store.meta_get("merged_height") == b"2"
    model.check(store)
    model.commit(store, {b"b1": b"z"}, 1)  # and it goes on in the new layout
    model.check(store)
    store.close()
    with sqlite3.connect(path) as conn:
        indexes = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'txs'")]
        assert indexes == ["txs"]  # no UNIQUE index left on txs
        assert conn.execute("SELECT count(*) FROM tx_ids").fetchone()[0] == 5
