"""The store's schema: version 2 keeps the history in block order; a version 1 file is migrated."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from govchain.store.sqlite import SCHEMA_VERSION, BlockWrite, Store

V1_HISTORY = """CREATE TABLE state_history (
    key BLOB NOT NULL, height INTEGER NOT NULL, value BLOB, PRIMARY KEY (key, height)
) WITHOUT ROWID"""


def block(height: int, writes: dict[bytes, bytes | None]) -> BlockWrite:
    return BlockWrite(height, bytes([height]) * 32, b"h", b"\x80", b"\x80", [], writes, [])


def test_history_is_kept_per_block_and_the_latest_height_per_key(tmp_path: Path) -> None:
    store = Store(tmp_path / "chain.db")
    store.commit_block(block(1, {b"b": b"1", b"a": b"1"}))
    store.commit_block(block(2, {b"a": b"2", b"c": b"2"}))
    store.commit_block(block(3, {b"a": None}))
    assert store.state_changes(1) == [(b"a", b"1"), (b"b", b"1")]
    assert store.state_changes(2) == [(b"a", b"2"), (b"c", b"2")]
    assert store.state_changes(3) == [(b"a", None)]
    assert store.state_changes(4) == []
    assert (store.state_height(b"b"), store.state_height(b"c"), store.state_height(b"a")) == (1, 2, None)
    store.close()


def test_a_version_1_store_is_migrated_with_its_history(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    Store(path).close()
    conn = sqlite3.connect(path, isolation_level=None)  # make it what version 1 wrote
    conn.execute("DROP TABLE state_history")
    conn.execute(V1_HISTORY)
    conn.executemany(
        "INSERT INTO state_history VALUES (?, ?, ?)",
        [(b"k2", 1, b"x"), (b"k1", 2, None), (b"k1", 1, b"y"), (b"k3", 2, b"z")],
    )
    conn.execute("UPDATE meta SET v = ? WHERE k = 'schema'", (b"1",))
    conn.close()

    store = Store(path)
    assert store.meta_get("schema") == str(SCHEMA_VERSION).encode()
    assert store.state_changes(1) == [(b"k1", b"y"), (b"k2", b"x")]
    assert store.state_changes(2) == [(b"k1", None), (b"k3", b"z")]
    store.commit_block(block(3, {b"k1": b"w"}))  # and it goes on in the new layout
    assert store.state_changes(3) == [(b"k1", b"w")]
    store.close()
    Store(path).close()  # opening again changes nothing


def test_an_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    Store(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE meta SET v = ? WHERE k = 'schema'", (b"9",))
    conn.close()
    with pytest.raises(RuntimeError, match="schema version 9"):
        Store(path)
