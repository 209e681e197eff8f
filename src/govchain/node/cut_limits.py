"""The `max_block_txs` a consortium peer cuts each height with, as governance set it.

Every peer must cut the stream alike (docs/protocol.md, "Block cutting"), so the
limit must come from committed state, the same on every peer. The rule: block h
is cut with the `max_block_txs` in force at block h - 1. Governance decisions
take effect at least one block after the block that decides them, so the state
after block h - 2 already knows it: the cutter may run one block ahead of
execution, and waits only if it gets further ahead.

A restarted peer cuts again the blocks between its saved stream position and its
head, with the limits they were cut with, although the state keeps only the last
change of a parameter. So the limits are kept as a list of changes,
`cut-limits.json` in the data directory, written (atomically, synced) when a
commit makes a new one known.
"""

from __future__ import annotations

import bisect
import json
import os
import threading
from pathlib import Path

from govchain.ledger.blocks import Genesis
from govchain.ledger.governance import effective_params
from govchain.node.committed import CommittedState
from govchain.store.sqlite import Store

LIMITS_FILE = "cut-limits.json"


class CutLimits:
    def __init__(self, data_dir: Path, genesis: Genesis) -> None:
        self._path = data_dir / LIMITS_FILE
        self._genesis = genesis
        self._state: CommittedState | None = None
        self._lock = threading.Lock()
        self._heights: list[int] = []
        self._values: list[int] = []
        self.known = 0  # limits are known for heights up to this one

    def open(self, store: Store, head: int) -> None:
        """Load the recorded changes, and learn the limits of the two heights after `head` (the
        committed height) from the store: the only ones a crash could have kept from the file."""
        self._state = CommittedState(store)
        try:
            changes = [(int(h), int(v)) for h, v in json.loads(self._path.read_text())["changes"]]
        except FileNotFoundError:  # a new peer (or one from before governed limits: all genesis)
            changes = [(1, self._genesis.params.max_block_txs)]
        changes = changes[:1] + [(h, v) for h, v in changes[1:] if h <= head]  # the rest is relearnt
        with self._lock:
            self._heights = [h for h, _ in changes]
            self._values = [v for _, v in changes]
            self.known = head
        self.learn(head + 1)
        self.learn(head + 2)

    def at(self, height: int) -> int | None:
        """The limit for cutting `height`, or None while block `height - 2` is not committed here."""
        with self._lock:
            if height > self.known:
                return None
            return self._values[bisect.bisect_right(self._heights, height) - 1]

    def committed(self, height: int) -> None:
        """Block `height` is committed: the limit for `height + 2` is known now."""
        self.learn(height + 2)

    def learn(self, height: int) -> None:
        if height <= self.known or self._state is None:
            return
        value = effective_params(self._genesis, self._state, height - 1).max_block_txs
        with self._lock:
            changed = value != self._values[-1]
            if changed:
                self._heights.append(height)
                self._values.append(value)
            self.known = height
            changes = list(zip(self._heights, self._values, strict=True))
        if changed:
            tmp = self._path.with_suffix(".tmp")
            with tmp.open("w") as sink:
                sink.write(json.dumps({"changes": changes}) + "\n")
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(tmp, self._path)
