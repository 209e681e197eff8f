"""The node's private store: data that must never go on chain, encrypted at rest.

A licence's data and rendered file live here on the issuing organisation's own
node, never in the chain database, never replicated. Each value is sealed with
the chain suite's AEAD (AES-256-GCM, or SM4-GCM for `gm`) under a key that only
this node holds (`private.key`, mode 0600), with a fresh nonce per value and the
value's name as associated data, so a value cannot be moved to another name.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from pathlib import Path

from govchain.crypto import Suite

NONCE_SIZE = 12


class PrivateStore:
    def __init__(self, data_dir: Path, suite: Suite) -> None:
        self._suite = suite
        key_file = data_dir / "private.key"
        if not key_file.exists():
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(suite.aead_key_size))
        self._key = key_file.read_bytes()
        self._db = sqlite3.connect(data_dir / "private.db", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS private "
            "(name TEXT PRIMARY KEY, nonce BLOB NOT NULL, sealed BLOB NOT NULL)"
        )
        self._lock = threading.Lock()

    def put(self, name: str, value: bytes) -> None:
        nonce = secrets.token_bytes(NONCE_SIZE)
        sealed = self._suite.encrypt(self._key, nonce, value, name.encode())
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO private VALUES (?, ?, ?)", (name, nonce, sealed))

    def get(self, name: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT nonce, sealed FROM private WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return self._suite.decrypt(self._key, bytes(row[0]), bytes(row[1]), name.encode())

    def close(self) -> None:
        with self._lock:
            self._db.close()
