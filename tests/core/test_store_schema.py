"""The store's schema: version 3 keeps one history row per block; version 1 and 2 files are migrated."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govchain.store.sqlite import SCHEMA_VERSION, BlockWrite, Store

OLD_HISTORY = {
    1: """CREATE TABLE state_history (
    key BLOB NOT NULL, height INTEGER NOT NULL, value BLOB, PRIMARY KEY (key, height)
) WITHOUT ROWID""",
    2: """CREATE TABLE state_history (
    height INTEGER NOT NULL, key BLOB NOT NULL, value BLOB, PRIMARY KEY (height, key)
) WITHOUT ROWID""",
}


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


def test_a_block_that_writes_nothing_has_an_empty_history(tmp_path: Path) -> None:
    store = Store(tmp_path / "chain.db")
    store.commit_block(block(1, {}))
    assert store.state_changes(1) == []
    store.close()


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_store_is_migrated_with_its_history(
    tmp_path: Path, version: int, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "chain.db"
    Store(path).close()
    conn = sqlite3.connect(path, isolation_level=None)  # make it what that version wrote
    conn.execute("DROP TABLE block_writes")
    conn.execute(OLD_HISTORY[version])
    rows = [(b"k2", 1, b"x"), (b"k1", 2, None), (b"k1", 1, b"y"), (b"k3", 2, b"z")]
    columns = "(key, height, value)"
    conn.executemany(f"INSERT INTO state_history {columns} VALUES (?, ?, ?)", rows)
    conn.execute("UPDATE meta SET v = ? WHERE k = 'schema'", (str(version).encode(),))
    conn.close()

    store = Store(path)
    assert store.meta_get("schema") == str(SCHEMA_VERSION).encode()
    assert "converting the state history" in caplog.text  # the operator hears why opening takes a while
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "state_history" not in tables
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


@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(
        st.tuples(st.integers(1, 6), st.binary(min_size=1, max_size=4)),
        st.none() | st.binary(max_size=8),
        max_size=30,
    )
)
def test_migration_keeps_every_block_s_writes(history: dict[tuple[int, bytes], bytes | None]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chain.db"
        Store(path).close()
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("DROP TABLE block_writes")
        conn.execute(OLD_HISTORY[2])
        conn.executemany(
            "INSERT INTO state_history (height, key, value) VALUES (?, ?, ?)",
            [(h, k, v) for (h, k), v in history.items()],
        )
        conn.execute("UPDATE meta SET v = ? WHERE k = 'schema'", (b"2",))
        conn.close()
        store = Store(path)
        for height in range(1, 7):
            expected = sorted((k, v) for (h, k), v in history.items() if h == height)
            assert store.state_changes(height) == expected
        store.close()


def test_a_failed_migration_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import govchain.store.sqlite as sqlite_store

    path = tmp_path / "chain.db"
    Store(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE block_writes")
    conn.execute(OLD_HISTORY[2])
    conn.executemany(
        "INSERT INTO state_history VALUES (?, ?, ?)", [(h, b"k%d" % h, b"v") for h in range(1, 6)]
    )
    conn.execute("UPDATE meta SET v = ? WHERE k = 'schema'", (b"2",))
    conn.close()
    calls = []

    def failing(writes: Any) -> bytes:
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return sqlite_store.cbor2.dumps([[k, v] for k, v in writes])

    monkeypatch.setattr(sqlite_store, "_encode_writes", failing)
    with pytest.raises(OSError, match="disk full"):
        Store(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()[0] == b"2"
        assert conn.execute("SELECT count(*) FROM state_history").fetchone()[0] == 5
        assert conn.execute("SELECT count(*) FROM block_writes").fetchone()[0] == 0
    monkeypatch.undo()
    store = Store(path)  # and the next opening converts it
    assert [store.state_changes(h) for h in (1, 5)] == [[(b"k1", b"v")], [(b"k5", b"v")]]
    store.close()
