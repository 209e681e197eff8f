"""The consortium cut rule (docs/protocol.md, "Block cutting") as a pure state machine, without NATS."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from govchain import codec
from govchain.ordering.base import Batch
from govchain.ordering.jetstream import (
    CutBatch,
    Cutter,
    Position,
    decode_envelopes,
    encode_envelopes,
    pack,
)


@dataclass(frozen=True)
class Item:
    id: bytes
    raw: bytes


def decode(raw: bytes) -> Item:
    if raw.startswith(b"junk"):
        raise ValueError("not a transaction")
    return Item(hashlib.sha256(raw).digest(), raw)


# (kind, payload, stream time); a message's sequence number is its index + 1
Message = tuple[str, bytes, int]

MALFORMED_LISTS = [
    b"\xff",  # not CBOR
    codec.encode([]),  # empty list
    codec.encode([b"a", 1]),  # an item that is not a byte string
    codec.encode({"a": b"a"}),  # not a list
    b"\x9f\x41a\xff",  # indefinite length: valid CBOR, not canonical
    b"\x98\x01\x41a",  # a one-byte length where none is needed: not canonical
    codec.encode([b"a"]) + b"\x00",  # trailing bytes
]


def feed(cutter: Cutter[Item], stream: list[Message], first_seq: int = 1) -> list[CutBatch[Item]]:
    cuts: list[CutBatch[Item]] = []
    for seq, (kind, payload, time_ms) in enumerate(stream[first_seq - 1 :], start=first_seq):
        if kind == "txs":
            cuts += cutter.on_txs(seq, time_ms, payload)
        elif kind == "tx":
            cuts += cutter.on_tx(seq, time_ms, payload)
        else:
            cuts += cutter.on_marker(seq, time_ms, payload)
    return cuts


def run(stream: list[Message], max_txs: int) -> tuple[list[CutBatch[Item]], Cutter[Item]]:
    cutter = Cutter(Position(0, 1000, 1), max_txs=max_txs, decode=decode)
    return feed(cutter, stream), cutter


def test_cut_rule_by_example() -> None:
    cutter = Cutter(Position(0, 1000, 1), max_txs=3, decode=decode)
    assert cutter.on_tx(1, 900, b"a") == []
    assert cutter.on_tx(2, 901, b"junk") == []  # skipped: does not count
    assert cutter.on_marker(3, 950, b"2") == []  # not the open height: ignored
    assert cutter.on_txs(4, 955, b"\xff") == []  # an unreadable list is skipped whole
    assert cutter.on_tx(5, 958, b"a") == []  # the same bytes again in the open batch: skipped
    [first] = cutter.on_txs(6, 970, encode_envelopes([b"b", b"junk2", b"c", b"d", b"e"]))
    assert first.height == 1 and [t.raw for t in first.batch.txs] == [b"a", b"b", b"c"]
    assert first.batch.time == 1000  # never earlier than the previous batch (here: genesis)
    assert first.after == Position(1, 1000, 6, 3)  # cut inside message 6: items 3.. open the next batch
    assert cutter.open_txs == [decode(b"d"), decode(b"e")]
    assert cutter.on_marker(7, 1100, b"1") == []  # stale marker
    [second] = cutter.on_marker(8, 1300, b"2")
    assert second.batch == Batch(1300, [decode(b"d"), decode(b"e")])
    assert second.after == Position(2, 1300, 9)
    assert cutter.on_marker(9, 1400, b"3") == []  # empty batch: no cut
    [third] = cutter.on_txs(10, 1500, encode_envelopes([b"a", b"f", b"g"]))  # a cut at a list's end
    assert third.batch == Batch(1500, [decode(b"a"), decode(b"f"), decode(b"g")])
    assert third.after == Position(3, 1500, 11)  # nothing of message 10 is left


def test_a_long_list_cuts_several_batches() -> None:
    cutter = Cutter(Position(4, 1000, 30), max_txs=2, decode=decode)
    cuts = cutter.on_txs(30, 2000, encode_envelopes([b"1", b"2", b"3", b"4", b"5"]))
    assert [c.height for c in cuts] == [5, 6]
    assert [[t.raw for t in c.batch.txs] for c in cuts] == [[b"1", b"2"], [b"3", b"4"]]
    assert [c.after for c in cuts] == [Position(5, 2000, 30, 2), Position(6, 2000, 30, 4)]
    # a peer restarted at the second batch's position takes up message 30 from its fifth item
    again = Cutter(cuts[1].after, max_txs=2, decode=decode)
    assert again.on_txs(30, 2000, encode_envelopes([b"1", b"2", b"3", b"4", b"5"])) == []
    assert again.open_txs == [decode(b"5")]


def test_position_file_round_trip() -> None:
    for position in (Position(3, 1234, 17), Position(3, 1234, 17, 250)):
        assert Position.from_json(position.to_json()) == position
    assert Position.from_json('{"height": 2, "time": 5, "next_seq": 9}') == Position(2, 5, 9)  # older file


def test_envelope_encoding_is_canonical_cbor() -> None:
    payload = encode_envelopes([b"ab", b""])
    assert payload == bytes.fromhex("8242616240")  # array(2), bytes(2) "ab", bytes(0)
    assert payload == codec.encode([b"ab", b""])
    assert decode_envelopes(payload) == [b"ab", b""]
    for bad in MALFORMED_LISTS:
        try:
            decode_envelopes(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad.hex()} was accepted")


def test_pack_splits_by_count_and_size() -> None:
    raws = [bytes(10)] * 7
    assert pack(raws, 3, 10_000) == [range(0, 3), range(3, 6), range(6, 7)]
    assert pack(raws, 100, 31) == [range(0, 2), range(2, 4), range(4, 6), range(6, 7)]  # 15 bytes each
    assert pack([bytes(50), bytes(5)], 100, 20) == [range(0, 1), range(1, 2)]  # too big: alone
    assert pack([], 3, 100) == []


raw_items = st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f", b"junk1", b"junk2"])
messages = st.one_of(
    st.tuples(st.just("tx"), raw_items),
    st.tuples(st.just("txs"), st.lists(raw_items, min_size=1, max_size=9).map(encode_envelopes)),
    st.tuples(st.just("txs"), st.sampled_from(MALFORMED_LISTS)),
    st.tuples(st.just("cut"), st.sampled_from([b"1", b"2", b"3", b"4", b"x", b""])),
)
streams = st.lists(st.tuples(messages, st.integers(0, 50)), max_size=40).map(
    lambda items: [
        (kind, payload, 900 + 10 * i + jitter) for i, ((kind, payload), jitter) in enumerate(items)
    ]
)


def contents(cuts: list[CutBatch[Item]]) -> list[tuple[int, Batch[Item]]]:
    return [(c.height, c.batch) for c in cuts]


@settings(max_examples=300, deadline=None)
@given(streams, st.integers(1, 6))
def test_the_same_stream_always_cuts_the_same_batches(stream: list[Message], max_txs: int) -> None:
    cuts, _ = run(stream, max_txs)
    again, _ = run(stream, max_txs)
    assert again == cuts
    # a peer restarted from any saved position cuts exactly the batches that followed it
    for index, cut in enumerate(cuts):
        restarted = Cutter(cut.after, max_txs=max_txs, decode=decode)
        assert feed(restarted, stream, cut.after.next_seq) == cuts[index + 1 :]


@settings(max_examples=300, deadline=None)
@given(streams, st.integers(1, 6))
def test_batches_hold_each_transaction_once_in_stream_order(stream: list[Message], max_txs: int) -> None:
    cuts, cutter = run(stream, max_txs)
    expected: list[list[bytes]] = []  # the rule, restated: decodable items, minus repeats inside a batch
    batch: list[bytes] = []
    height = 0
    for kind, payload, _ in stream:
        if kind == "cut":
            if batch and payload == str(height + 1).encode():
                expected.append(batch)
                batch, height = [], height + 1
            continue
        try:
            raws = [payload] if kind == "tx" else decode_envelopes(payload)
        except ValueError:
            continue
        for raw in raws:
            if raw.startswith(b"junk") or raw in batch:
                continue
            batch.append(raw)
            if len(batch) == max_txs:
                expected.append(batch)
                batch, height = [], height + 1
    assert [[t.raw for t in c.batch.txs] for c in cuts] == expected
    assert [t.raw for t in cutter.open_txs] == batch
    for c in cuts:
        raws = [t.raw for t in c.batch.txs]
        assert 1 <= len(raws) <= max_txs and len(set(raws)) == len(raws)
    assert [c.height for c in cuts] == list(range(1, len(cuts) + 1))
    times = [c.batch.time for c in cuts]
    assert times == sorted(times) and all(t >= 1000 for t in times)


@settings(max_examples=300, deadline=None)
@given(streams, st.integers(1, 6), st.lists(st.tuples(st.integers(0, 40), st.sampled_from(MALFORMED_LISTS))))
def test_malformed_lists_are_skipped_alike(
    stream: list[Message], max_txs: int, junk: list[tuple[int, bytes]]
) -> None:
    """Unreadable `txs` messages inserted anywhere neither join nor cut a batch (only positions move)."""
    polluted = list(stream)
    for where, payload in sorted(junk, reverse=True):
        at = min(where, len(polluted))
        polluted.insert(at, ("txs", payload, polluted[at - 1][2] if at else 900))
    assert contents(run(polluted, max_txs)[0]) == contents(run(stream, max_txs)[0])
