"""The recent layer: what the latest blocks wrote, held in memory until it is merged into the indexes.

Why it exists: the `state` table and the transaction-id index are keyed by random byte strings
(document digests, transaction ids). Once such an index is much larger than a block, a block
of random keys changes about one database page per key, and each changed page is written to
the WAL, checksummed, and later checkpointed: the commit's cost grows with the chain.

Every block's writes are already stored in one appended row (`block_writes`) and its
transactions in `txs`, both synced before the commit returns. So the two indexes may lag: this
layer answers for the blocks not yet merged, and a merge folds many blocks' keys into the
indexes in key order, where neighbouring keys share pages. After a crash the layer is rebuilt
from those rows (`Store._rebuild_recent`).

Segments never change once built. A reader holds a tuple of them as one consistent view while
the writer adds blocks and merges (see `Store.snapshot`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping

# key -> (value, or None once deleted; the height of the block that wrote it)
StateWrites = Mapping[bytes, tuple[bytes | None, int]]


class Segment:
    """The writes and transaction ids of one or more consecutive blocks (immutable)."""

    __slots__ = ("_sorted", "ids", "state")

    def __init__(self, state: StateWrites, ids: Mapping[bytes, int]) -> None:
        self.state = state
        self.ids = ids  # transaction id -> its log index
        self._sorted: list[bytes] | None = None

    @property
    def size(self) -> int:
        return len(self.state) + len(self.ids)

    def keys_between(self, low: bytes, high: bytes | None) -> list[bytes]:
        """State keys k with low <= k < high (no upper bound when high is None), in order.

        The sorted key list is built on the first scan and kept: segments never change, and
        two threads building it at once build the same list."""
        keys = self._sorted
        if keys is None:
            keys = self._sorted = sorted(self.state)
        start = bisect_left(keys, low)
        end = len(keys) if high is None else bisect_left(keys, high, start)
        return keys[start:end]


View = tuple[Segment, ...]  # oldest first


def join(segments: Iterable[Segment]) -> Segment:
    """One segment holding what the given ones hold, later segments winning."""
    state: dict[bytes, tuple[bytes | None, int]] = {}
    ids: dict[bytes, int] = {}
    for segment in segments:
        state.update(segment.state)
        ids.update(segment.ids)
    return Segment(state, ids)


def push(view: View, segment: Segment) -> View:
    """Add a block's segment, joining the newest segments while the older is no larger.

    Like a binary counter: a read checks O(log n) segments, and each entry is copied
    O(log n) times in all, however many blocks there are."""
    out = (*view, segment)
    while len(out) >= 2 and out[-2].size <= out[-1].size:
        out = (*out[:-2], join(out[-2:]))
    return out


def size(view: View) -> int:
    return sum(segment.size for segment in view)


def get(view: View, key: bytes) -> tuple[bytes | None, int] | None:
    """The layer's latest entry for `key`; None when the layer does not hold the key."""
    for segment in reversed(view):
        found = segment.state.get(key)
        if found is not None:
            return found
    return None


def find_ids(view: View, tx_ids: Iterable[bytes]) -> dict[bytes, int]:
    """Those of `tx_ids` the layer holds, with their log indexes."""
    wanted = set(tx_ids)
    found: dict[bytes, int] = {}
    for segment in view:
        for tx_id in segment.ids.keys() & wanted:
            found[tx_id] = segment.ids[tx_id]
    return found


def scan(view: View, low: bytes, high: bytes | None) -> dict[bytes, bytes | None]:
    """Every key in [low, high) the layer holds, with its latest value (None: deleted)."""
    found: dict[bytes, bytes | None] = {}
    for segment in view:
        for key in segment.keys_between(low, high):
            found[key] = segment.state[key][0]
    return found
