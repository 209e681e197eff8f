"""SQLite storage: one database transaction per block, so a crash never leaves half a block.

- WAL journal with `synchronous=FULL` for block commits: a block whose commit returned
  is on disk, so a transaction acknowledged as committed survives kill -9 and power loss.
- One writer connection (the block executor's thread); every other thread reads
  through its own connection, which WAL lets run beside the writer.
- Tables: `meta` (genesis, schema version, merged height, finality's marks), `blocks`, `txs` (keyed by
  their index in the chain's Merkle log, which is also their global order), `tx_ids`
  (transaction id -> log index), `state` (latest value of each key, with the height
  that wrote it), `block_writes` (every version: what each block wrote, one row per
  block, so a block's history costs one append rather than a row per key),
  `log_nodes` (perfect subtrees of the log), `state_parts` (what a block's state
  root is made of, once state is provable).
- `state` and `tx_ids` are keyed by random byte strings, so they lag behind the
  blocks: the recent layer (`store/recent.py`) answers for the blocks not yet merged,
  and merges fold its keys into them in key order, a slice with each block commit.
  The layer lives in the process that opened the store, so one process owns a store.
- Page cache and WAL checkpoints are sized for blocks of thousands of random keys:
  a small cache and frequent checkpoints rewrite the same index pages many times.
- Byte strings are bound through an identity adapter: without one, sqlite3 looks for
  an adaptation protocol on every `bytes` parameter, which costs more than the insert.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import cbor2

from govchain.store import recent

# Identity adapter: sqlite3 then finds `bytes` in its adapter table at once instead of
# probing `__adapt__` / `__conform__` (two failed attribute lookups) for every parameter.
sqlite3.register_adapter(bytes, bytes)

log = logging.getLogger("govchain.store")

SCHEMA_VERSION = 4
CACHE_KIB = 262_144  # the writer's page cache (256 MiB, used as the database grows); readers keep the default
CHECKPOINT_PAGES = 16_384  # checkpoint the WAL once it holds this many pages (64 MiB)
RECENT_ENTRIES = 65_536  # merge the recent layer into the indexes once it holds this many keys and ids
MERGE_SLICE = 8_192  # keys and ids merged with each block commit while a merge is under way

_SCHEMA_TXS = """CREATE TABLE IF NOT EXISTS txs (
    log_index INTEGER PRIMARY KEY,
    id BLOB NOT NULL,
    height INTEGER NOT NULL,
    envelope BLOB NOT NULL,
    result BLOB NOT NULL,
    message TEXT NOT NULL
)"""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    header BLOB NOT NULL,
    signatures BLOB NOT NULL,
    frontier BLOB NOT NULL
);
{_SCHEMA_TXS};
CREATE TABLE IF NOT EXISTS tx_ids (id BLOB PRIMARY KEY, log_index INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (key BLOB PRIMARY KEY, value BLOB NOT NULL, height INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS block_writes (height INTEGER PRIMARY KEY, writes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS state_parts (height INTEGER PRIMARY KEY, parts BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS log_nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class StoredTx:
    log_index: int
    id: bytes
    height: int
    envelope: bytes
    result: bytes
    message: str


@dataclass(frozen=True, slots=True)
class StoredBlock:
    height: int
    hash: bytes
    header: bytes
    signatures: bytes
    frontier: bytes


@dataclass(frozen=True, slots=True)
class BlockWrite:
    """Everything one block adds, written in a single database transaction."""

    height: int
    hash: bytes
    header: bytes
    signatures: bytes
    frontier: bytes
    txs: Sequence[
        tuple[int, bytes, int, bytes, bytes, str]
    ]  # rows: (log_index, id, height, envelope, result, message)
    writes: dict[bytes, bytes | None]
    log_nodes: Sequence[tuple[int, int, bytes]]
    state_parts: bytes | None = None  # CBOR [previous state root, write-set root, provable root]


@dataclass(slots=True)
class _Merge:
    """A merge under way: the frozen segment, its entries in key order, and how far they got."""

    segment: recent.Segment  # read before the newer segments until the merge is done
    top: int  # the last block in it: the merged height once it is done
    state: list[tuple[bytes, bytes | None, int]]
    ids: list[tuple[bytes, int]]
    state_done: int = 0
    ids_done: int = 0


class Store:
    def __init__(
        self, path: Path, recent_entries: int = RECENT_ENTRIES, merge_slice: int = MERGE_SLICE
    ) -> None:
        self.path = path
        self._local = threading.local()
        self._snapshot_lock = threading.Lock()
        self.open_snapshots = 0  # threads inside `snapshot()` now
        self._recent_entries = recent_entries
        self._merge_slice = merge_slice
        # The recent layer: the segment being merged (if any), then the newer segments.
        # Replaced, never changed in place, under `_view_lock` together with each commit.
        self._view_lock = threading.Lock()
        self._active: recent.View = ()
        self._view: recent.View = ()
        self._merge: _Merge | None = None
        self._top = -1  # the last committed block
        self._writer = self._connect(synchronous="FULL")
        self._writer.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._writer.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
        self._writer.executescript(_SCHEMA)
        version = self.meta_get("schema")
        if version is None:
            with self._writer:
                self._writer.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION).encode(),))
                self._writer.execute("INSERT INTO meta VALUES ('merged_height', ?)", (b"-1",))
        else:
            if int(version) in (1, 2):
                self._migrate_history()
                version = b"3"
            if int(version) == 3:
                self._migrate_tx_ids()
            elif int(version) != SCHEMA_VERSION:
                raise RuntimeError(f"{path}: schema version {int(version)} is not {SCHEMA_VERSION}")
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        """Hold the blocks above the merged height in the recent layer again (after a restart).

        Their writes and transactions are on disk; only the indexes lag. A merge that a crash
        cut short is simply done again: it writes the same values."""
        merged = int(self.meta_get("merged_height") or b"-1")
        c = self._writer
        state: dict[bytes, tuple[bytes | None, int]] = {}
        for height, writes in c.execute(
            "SELECT height, writes FROM block_writes WHERE height > ? ORDER BY height", (merged,)
        ):
            for key, value in _decode_writes(writes):
                state[key] = (value, int(height))
        ids: dict[bytes, int] = {}
        for tx_id, log_index, height in c.execute(
            "SELECT id, log_index, height FROM txs ORDER BY log_index DESC"
        ):
            if height <= merged:
                break
            ids[bytes(tx_id)] = int(log_index)
        top = c.execute("SELECT MAX(height) FROM blocks").fetchone()[0]
        self._top = merged if top is None else int(top)
        self._active = (recent.Segment(state, ids),) if state or ids else ()
        self._merge = None
        self._view = self._active
        self._maybe_freeze()

    def _migrate_history(self) -> None:
        """Versions 1 and 2 kept one `state_history` row per written key (keyed by (key, height)
        in version 1, by (height, key) in version 2); fold them into one row per block, atomically."""
        c = self._writer
        log.warning(
            "%s: converting the state history to schema version %d, once (a large store takes a while)",
            self.path,
            SCHEMA_VERSION,
        )
        c.execute("BEGIN IMMEDIATE")
        try:
            rows = c.execute("SELECT height, key, value FROM state_history ORDER BY height, key")
            c.executemany(
                "INSERT INTO block_writes VALUES (?, ?)",
                (
                    (height, _encode_writes((bytes(k), None if v is None else bytes(v)) for _, k, v in group))
                    for height, group in groupby(rows, key=lambda row: int(row[0]))
                ),
            )
            c.execute("DROP TABLE state_history")
            c.execute("UPDATE meta SET v = ? WHERE k = 'schema'", (str(SCHEMA_VERSION).encode(),))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _migrate_tx_ids(self) -> None:
        """Version 3 indexed transaction ids inside `txs` (a UNIQUE column, written with every
        block); version 4 keeps them in `tx_ids`, merged in batches. SQLite cannot drop a
        column's UNIQUE index, so `txs` is copied once, atomically."""
        c = self._writer
        log.warning(
            "%s: moving the transaction-id index to schema version 4, once (a large store takes a while)",
            self.path,
        )
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute(_SCHEMA_TXS.replace("TABLE IF NOT EXISTS txs", "TABLE txs_v4"))
            c.execute("INSERT INTO txs_v4 SELECT log_index, id, height, envelope, result, message FROM txs")
            c.execute("DROP TABLE txs")
            c.execute("ALTER TABLE txs_v4 RENAME TO txs")
            c.execute("INSERT OR REPLACE INTO tx_ids SELECT id, log_index FROM txs ORDER BY id")
            top = c.execute("SELECT COALESCE(MAX(height), -1) FROM blocks").fetchone()[0]
            c.execute("INSERT OR REPLACE INTO meta VALUES ('merged_height', ?)", (str(top).encode(),))
            c.execute("UPDATE meta SET v = ? WHERE k = 'schema'", (str(SCHEMA_VERSION).encode(),))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _connect(self, synchronous: str = "NORMAL") -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()  # only `set_signatures` writes through it
            self._local.conn = conn
        return conn

    def close(self) -> None:
        self._writer.close()

    # --- writes (the executor's thread only) ---------------------------------------

    def commit_block(self, block: BlockWrite) -> None:
        """Write a whole block, or nothing (a crash mid-way rolls back on reopen).

        The same database transaction carries the next slice of a merge under way, and the
        block's keys and ids join the recent layer as it commits (one step for readers)."""
        c = self._writer
        merge = self._merge
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute(
                "INSERT INTO blocks VALUES (?, ?, ?, ?, ?)",
                (block.height, block.hash, block.header, block.signatures, block.frontier),
            )
            c.executemany("INSERT INTO txs VALUES (?, ?, ?, ?, ?, ?)", block.txs)
            if block.writes:
                history = (block.height, _encode_writes(sorted(block.writes.items())))
                c.execute("INSERT OR REPLACE INTO block_writes VALUES (?, ?)", history)
            c.executemany("INSERT OR REPLACE INTO log_nodes VALUES (?, ?, ?)", block.log_nodes)
            if block.state_parts is not None:
                parts = (block.height, block.state_parts)
                c.execute("INSERT OR REPLACE INTO state_parts VALUES (?, ?)", parts)
            progress = self._merge_slice_into(c, merge) if merge is not None else None
            height = block.height
            segment = recent.Segment(
                {k: (v, height) for k, v in block.writes.items()}, {row[1]: row[0] for row in block.txs}
            )
            with self._view_lock:  # readers starting a snapshot see the block and its keys, or neither
                c.execute("COMMIT")
                self._top = height
                if segment.size:
                    self._active = recent.push(self._active, segment)
                if merge is not None and progress is not None:
                    merge.state_done, merge.ids_done = progress
                    if progress == (len(merge.state), len(merge.ids)):
                        self._merge = None
                self._view = self._active if self._merge is None else (self._merge.segment, *self._active)
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        self._maybe_freeze()

    def _merge_slice_into(self, c: sqlite3.Connection, merge: _Merge) -> tuple[int, int]:
        """Write the next slice of the merge under way; returns how far it will have got.

        Slices follow key order, so one slice touches only its stretch of each index."""
        state_end = min(len(merge.state), merge.state_done + self._merge_slice)
        ids_end = min(len(merge.ids), merge.ids_done + self._merge_slice)
        rows = merge.state[merge.state_done : state_end]
        c.executemany("INSERT OR REPLACE INTO state VALUES (?, ?, ?)", (r for r in rows if r[1] is not None))
        c.executemany("DELETE FROM state WHERE key = ?", ((r[0],) for r in rows if r[1] is None))
        c.executemany("INSERT OR REPLACE INTO tx_ids VALUES (?, ?)", merge.ids[merge.ids_done : ids_end])
        if (state_end, ids_end) == (len(merge.state), len(merge.ids)):
            c.execute("UPDATE meta SET v = ? WHERE k = 'merged_height'", (str(merge.top).encode(),))
        return state_end, ids_end

    def _maybe_freeze(self) -> None:
        """Start a merge once the recent layer is large enough and no merge is under way."""
        if self._merge is not None or recent.size(self._active) < self._recent_entries:
            return
        frozen = recent.join(self._active)
        merge = _Merge(
            frozen,
            self._top,
            sorted((k, v, h) for k, (v, h) in frozen.state.items()),
            sorted(frozen.ids.items()),
        )
        with self._view_lock:  # the same keys and values, in one segment instead of several
            self._active, self._merge = (), merge
            self._view = (frozen,)

    def set_signatures(self, height: int, signatures: bytes, marks: Mapping[str, int] | None = None) -> None:
        """Replace a committed block's header signatures (finality adds peers' signatures later),
        and with them, in the same transaction, the caller's `marks`: numbers kept in `meta` that
        describe the stored signatures (node/finality.py: where to read the signature stream again
        after a restart, and up to which height every block is final).

        Runs on the caller's own connection; SQLite serialises it with block commits. That
        connection does not wait for the disk (`synchronous=NORMAL`): the update survives a
        crash of the process. After a power loss the write-ahead log keeps a prefix of the
        commits, so the stored marks never run ahead of the stored signatures they describe. A
        block itself is always on disk before its commit returns.
        """
        conn = self._reader()
        if not marks:
            conn.execute("UPDATE blocks SET signatures = ? WHERE height = ?", (signatures, height))
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("UPDATE blocks SET signatures = ? WHERE height = ?", (signatures, height))
            conn.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, str(v).encode()) for k, v in marks.items()]
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def mark(self, key: str, default: int) -> int:
        """A number `set_signatures` stored with the signatures (`default` until one was)."""
        value = self.meta_get(key)
        return default if value is None else int(value)

    # --- reads (any thread) -------------------------------------------------------

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one committed state (this thread's connection, one read transaction).

        The read transaction starts, and the recent layer is taken, while no block commits."""
        conn = self._reader()
        with self._view_lock:
            conn.execute("BEGIN")
            conn.execute("SELECT 1 FROM meta LIMIT 1").fetchone()  # a read fixes what it sees
            self._local.view = self._view
        with self._snapshot_lock:
            self.open_snapshots += 1
        self._local.snapshot = True
        try:
            yield
        finally:
            self._local.snapshot = False
            self._local.view = None
            with self._snapshot_lock:
                self.open_snapshots -= 1
            conn.execute("COMMIT")

    def in_snapshot(self) -> bool:
        """Whether this thread reads inside `snapshot()`, i.e. possibly an older state than the latest.

        `open_snapshots` (any thread) is the cheap first test for callers on a hot path."""
        return bool(self.open_snapshots and getattr(self._local, "snapshot", False))

    def state_parts_at(self, height: int) -> tuple[int, bytes] | None:
        """The last block at or below `height` that stored state-root parts: (its height, parts)."""
        row = (
            self._reader()
            .execute(
                "SELECT height, parts FROM state_parts WHERE height <= ? ORDER BY height DESC LIMIT 1",
                (height,),
            )
            .fetchone()
        )
        return None if row is None else (int(row[0]), bytes(row[1]))

    def meta_get(self, key: str) -> bytes | None:
        row = self._reader().execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def latest_block(self) -> StoredBlock | None:
        row = self._reader().execute("SELECT * FROM blocks ORDER BY height DESC LIMIT 1").fetchone()
        return None if row is None else StoredBlock(*row)

    def block(self, height: int) -> StoredBlock | None:
        row = self._reader().execute("SELECT * FROM blocks WHERE height = ?", (height,)).fetchone()
        return None if row is None else StoredBlock(*row)

    def block_by_hash(self, block_hash: bytes) -> StoredBlock | None:
        row = self._reader().execute("SELECT * FROM blocks WHERE hash = ?", (block_hash,)).fetchone()
        return None if row is None else StoredBlock(*row)

    def _recent(self) -> recent.View:
        """The recent layer this thread reads: the one its snapshot took, or the latest."""
        if self.open_snapshots:
            view: recent.View | None = getattr(self._local, "view", None)
            if view is not None:
                return view
        return self._view

    def has_tx(self, tx_id: bytes) -> bool:
        return bool(self.known_txs([tx_id]))

    def known_txs(self, tx_ids: Sequence[bytes]) -> set[bytes]:
        """The subset of `tx_ids` already committed, in few queries."""
        view = self._recent()  # before the database: a merge only ever moves ids from it to there
        found = set(recent.find_ids(view, tx_ids))
        rest = [tx_id for tx_id in tx_ids if tx_id not in found]
        conn = self._reader()
        for i in range(0, len(rest), 500):
            chunk = rest[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                bytes(r[0]) for r in conn.execute(f"SELECT id FROM tx_ids WHERE id IN ({marks})", chunk)
            )
        return found

    def tx(self, tx_id: bytes) -> StoredTx | None:
        log_index = recent.find_ids(self._recent(), (tx_id,)).get(tx_id)
        if log_index is not None:
            return self.tx_at(log_index)
        row = (
            self._reader()
            .execute(
                "SELECT t.* FROM tx_ids i JOIN txs t ON t.log_index = i.log_index WHERE i.id = ?", (tx_id,)
            )
            .fetchone()
        )
        return None if row is None else StoredTx(*row)

    def tx_at(self, log_index: int) -> StoredTx | None:
        row = self._reader().execute("SELECT * FROM txs WHERE log_index = ?", (log_index,)).fetchone()
        return None if row is None else StoredTx(*row)

    def txs_in_range(self, start: int, end: int) -> list[StoredTx]:
        rows = self._reader().execute(
            "SELECT * FROM txs WHERE log_index >= ? AND log_index < ? ORDER BY log_index", (start, end)
        )
        return [StoredTx(*row) for row in rows]

    def tx_count(self) -> int:
        row = self._reader().execute("SELECT COALESCE(MAX(log_index) + 1, 0) FROM txs").fetchone()
        return int(row[0])

    def state_get(self, key: bytes) -> bytes | None:
        found = recent.get(self._recent(), key)
        if found is not None:
            return found[0]
        row = self._reader().execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def state_scan(self, prefix: bytes, limit: int, reverse: bool = False) -> list[tuple[bytes, bytes]]:
        """Keys starting with `prefix`, in key order (or from the last key down with `reverse`).

        The database's rows and the recent layer's keys are merged in order, and the rows are
        read only as far as the answer needs (the layer may hold many keys under a prefix)."""
        upper = _prefix_upper_bound(prefix)
        layer = recent.scan(self._recent(), prefix, upper)
        order = "DESC" if reverse else "ASC"
        where = "key >= ?" if upper is None else "key >= ? AND key < ?"
        bounds = (prefix,) if upper is None else (prefix, upper)
        conn = self._reader()
        if not layer:
            rows = conn.execute(
                f"SELECT key, value FROM state WHERE {where} ORDER BY key {order} LIMIT ?", (*bounds, limit)
            )
            return [(bytes(k), bytes(v)) for k, v in rows]
        cursor = conn.execute(f"SELECT key, value FROM state WHERE {where} ORDER BY key {order}", bounds)
        try:
            return _merge_in_order(cursor, layer, limit, reverse)
        finally:
            cursor.close()

    def state_height(self, key: bytes) -> int | None:
        """The height of the block that last wrote a live key (None if absent or deleted)."""
        found = recent.get(self._recent(), key)
        if found is not None:
            return None if found[0] is None else found[1]
        row = self._reader().execute("SELECT height FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def state_changes(self, height: int) -> list[tuple[bytes, bytes | None]]:
        """What block `height` wrote, in key order (None: deleted): one block's slice of the history."""
        row = self._reader().execute("SELECT writes FROM block_writes WHERE height = ?", (height,)).fetchone()
        return [] if row is None else _decode_writes(row[0])

    def get_node(self, level: int, index: int) -> bytes | None:
        row = (
            self._reader()
            .execute("SELECT hash FROM log_nodes WHERE level = ? AND idx = ?", (level, index))
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Merkle log nodes by (level, index); missing ones are simply absent."""
        found: dict[tuple[int, int], bytes] = {}
        for level, index in keys:
            node = self.get_node(level, index)
            if node is not None:
                found[(level, index)] = node
        return found


def _merge_in_order(
    rows: Iterable[tuple[bytes, bytes]], layer: dict[bytes, bytes | None], limit: int, reverse: bool
) -> list[tuple[bytes, bytes]]:
    """The first `limit` live keys of the rows (in key order, or reversed) with the layer's entries
    put over them: a layer key replaces the row with the same key, and None deletes it."""
    keys = sorted(layer, reverse=reverse)
    out: list[tuple[bytes, bytes]] = []
    i = 0

    def take(key: bytes) -> None:
        value = layer[key]
        if value is not None:
            out.append((key, value))

    for raw_key, raw_value in rows:
        key = bytes(raw_key)
        while i < len(keys) and (keys[i] > key if reverse else keys[i] < key) and len(out) < limit:
            take(keys[i])
            i += 1
        if len(out) >= limit:
            return out
        if i < len(keys) and keys[i] == key:
            take(key)
            i += 1
        else:
            out.append((key, bytes(raw_value)))
        if len(out) >= limit:
            return out
    while i < len(keys) and len(out) < limit:
        take(keys[i])
        i += 1
    return out


def _encode_writes(writes: Iterable[tuple[bytes, bytes | None]]) -> bytes:
    """One block's writes as stored: a CBOR array of [key, value or null], in key order."""
    return cbor2.dumps([[k, v] for k, v in writes])


def _decode_writes(data: bytes) -> list[tuple[bytes, bytes | None]]:
    """A `block_writes` row back as [(key, value or None)], in key order."""
    return [(k, v) for k, v in cbor2.loads(data)]


def _prefix_upper_bound(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with `prefix`."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])
