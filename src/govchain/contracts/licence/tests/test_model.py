"""The licence model's pure parts: identifiers, selective disclosure, status lists, type documents."""

from __future__ import annotations

import copy
import secrets
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govchain.contracts.licence.model import (
    STATUS_CHUNK_BYTES,
    check_disclosure,
    check_licence_id,
    data_digest,
    disclose,
    get_bit,
    licence_id,
    parse_type,
    salted_fields,
    set_bit,
)
from govchain.contracts.licence.samples import BUSINESS_LICENCE
from govchain.contracts.licence.vc import decode_status_list, encode_status_list
from govchain.crypto import get_suite

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@given(
    code=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=2, max_size=6),
    org=st.sampled_from(["org1", "org2", "org12", "cityarchive"]),
    seq=st.integers(1, 10**9),
    data=st.data(),
)
def test_check_character_catches_any_single_substitution(code: str, org: str, seq: int, data: Any) -> None:
    lid = licence_id(code, org, seq)
    assert check_licence_id(lid) == lid
    positions = [i for i, ch in enumerate(lid) if ch.upper() in ALNUM]
    i = data.draw(st.sampled_from(positions))
    replacement = data.draw(st.sampled_from([c for c in ALNUM if c != lid[i].upper()]))
    mistyped = lid[:i] + replacement + lid[i + 1 :]
    with pytest.raises(ValueError):
        check_licence_id(mistyped)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(
    fields=st.dictionaries(
        st.from_regex(r"[a-z_]{1,8}", fullmatch=True), json_values, min_size=1, max_size=6
    ),
    data=st.data(),
)
def test_disclosure_shows_exactly_the_chosen_fields_and_nothing_forged(
    fields: dict[str, Any], data: Any
) -> None:
    suite = get_suite("intl")
    salts = {name: secrets.token_bytes(16) for name in fields}
    digest = data_digest(suite, salted_fields(suite, fields, salts))
    shown = data.draw(st.lists(st.sampled_from(sorted(fields)), unique=True))
    disclosure = disclose(suite, fields, salts, shown)
    assert check_disclosure(suite, disclosure, digest) == {name: fields[name] for name in shown}
    if shown:
        forged = copy.deepcopy(disclosure)
        name = shown[0]
        forged["fields"][name][1] = ["not", "the", "value"]
        with pytest.raises(ValueError):
            check_disclosure(suite, forged, digest)
        hidden = copy.deepcopy(disclosure)
        hidden["fields"].pop(name)
        hidden["hashes"][name] = b"\x00" * 32
        with pytest.raises(ValueError):
            check_disclosure(suite, hidden, digest)


@given(indexes=st.lists(st.integers(0, STATUS_CHUNK_BYTES * 8 - 1), max_size=20), data=st.data())
def test_status_bits_set_and_clear_exactly_one_bit(indexes: list[int], data: Any) -> None:
    chunk = b""
    expected: set[int] = set()
    for i in indexes:
        value = data.draw(st.booleans())
        chunk = set_bit(chunk, i, value)
        (expected.add if value else expected.discard)(i)
    assert {i for i in range(STATUS_CHUNK_BYTES * 8) if get_bit(chunk or bytes(1), i)} == expected
    assert decode_status_list(encode_status_list(chunk)) == chunk


def test_status_list_bit_order_is_most_significant_first() -> None:
    assert set_bit(b"", 0, True)[0] == 0x80 and set_bit(b"", 9, True)[1] == 0x40


def test_type_documents_are_checked() -> None:
    kind = parse_type("BL", BUSINESS_LICENCE)
    assert kind.fields == {"name", "credit_code", "legal_rep", "scope"} and kind.personal == {"legal_rep"}
    bad: list[tuple[str, dict[str, Any], str]] = [
        ("bl", BUSINESS_LICENCE, "type code"),
        ("BL", BUSINESS_LICENCE | {"personal": ["salary"]}, "personal"),
        ("BL", BUSINESS_LICENCE | {"holder": "robot"}, "holder"),
        ("BL", BUSINESS_LICENCE | {"validity_days": 0}, "validity_days"),
        ("BL", BUSINESS_LICENCE | {"issuers": []}, "issuers"),
        ("BL", BUSINESS_LICENCE | {"schema": {"type": "array"}}, "schema"),
        ("BL", {k: v for k, v in BUSINESS_LICENCE.items() if k != "name_en"}, "exactly"),
    ]
    for code, doc, words in bad:
        with pytest.raises(ValueError, match=words):
            parse_type(code, doc)
