"""Crypto suites. `get_suite("intl")` or `get_suite("gm")` is the only entry point most code needs."""

from govchain.crypto.base import (
    HASH_SIZE,
    PRIVATE_KEY_SIZE,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    CryptoError,
    KeyPair,
    Suite,
)
from govchain.crypto.suites import SUITE_NAMES, get_suite

__all__ = [
    "HASH_SIZE",
    "PRIVATE_KEY_SIZE",
    "PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
    "SUITE_NAMES",
    "CryptoError",
    "KeyPair",
    "Suite",
    "get_suite",
]
