"""Signed requests (off-chain calls authenticated like transactions): each refusal has its code."""

from __future__ import annotations

import time

import pytest

from govchain.crypto import get_suite
from govchain.ledger.errors import TxRejected
from govchain.ledger.requests import sign_request, verify_request


@pytest.mark.parametrize("suite_name", ["intl", "gm"])
def test_signed_requests_are_checked(suite_name: str) -> None:
    suite = get_suite(suite_name)
    keys = suite.generate_keypair()
    now = int(time.time() * 1000)
    good = sign_request(suite, keys, {"purpose": "p", "chain": "c", "t": now, "x": b"\x01"})
    body, signer = verify_request(suite, "c", good, "p", now)
    assert body["x"] == b"\x01" and signer == keys.public

    def code(envelope: dict[str, str], purpose: str = "p", chain: str = "c", at: int = now) -> str:
        with pytest.raises(TxRejected) as exc:
            verify_request(suite, chain, envelope, purpose, at)
        return exc.value.code

    assert code(good, purpose="other") == "invalid_field"
    assert code(good, chain="other") == "wrong_chain"
    assert code(good, at=now + 301_000) == "expired"
    assert (
        code(good | {"sig": good["sig"][:-2] + ("00" if good["sig"][-2:] != "00" else "01")})
        == "bad_signature"
    )
    other = suite.generate_keypair()
    assert code(good | {"key": other.public.hex()}) == "bad_signature"
    assert code({"body": "zz", "key": "", "sig": ""}) == "malformed"
    assert code(sign_request(suite, keys, {"purpose": "p", "chain": "c"})) == "invalid_field"
