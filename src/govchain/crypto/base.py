"""The crypto suite interface: one object per chain does every hash, signature and cipher.

A chain picks its suite at genesis (`intl` or `gm`) and never changes it, so every
other module takes a `Suite` and never names an algorithm itself.

Encodings are fixed so that a verifier in any language can check them:
- private key: 32-byte big-endian scalar;
- public key: 65-byte uncompressed SEC1 point (0x04 || X || Y);
- signature: 64 bytes, r || s, each 32-byte big-endian (IEEE P1363, as WebCrypto uses);
- hash: 32 bytes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

HASH_SIZE = 32
PUBLIC_KEY_SIZE = 65
PRIVATE_KEY_SIZE = 32
SIGNATURE_SIZE = 64
NONCE_SIZE = 12


class CryptoError(Exception):
    """Raised for malformed keys, signatures or ciphertexts."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A private scalar and its public point, both in the fixed encodings above."""

    private: bytes
    public: bytes


class Hasher(Protocol):
    """An incremental hash: feed a large file in chunks, then take the digest."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


VerifyItem = tuple[bytes, bytes, bytes]
"""(public key, message, signature) for batch verification."""


class Suite(ABC):
    """Hash, sign, verify and encrypt, all under one named suite."""

    name: str
    hash_name: str
    sign_name: str
    aead_name: str
    aead_key_size: int

    @abstractmethod
    def hash(self, data: bytes) -> bytes:
        """The suite's 32-byte hash (SHA-256 or SM3)."""

    @abstractmethod
    def hasher(self) -> Hasher:
        """A fresh incremental hash equal to `hash` over everything fed to it."""

    @abstractmethod
    def generate_keypair(self) -> KeyPair:
        """A fresh key pair from the operating system's randomness."""

    @abstractmethod
    def public_key(self, private: bytes) -> bytes:
        """The public key for a 32-byte private scalar."""

    @abstractmethod
    def sign(self, private: bytes, message: bytes) -> bytes:
        """Sign `message` (the suite hashes it); returns 64-byte r || s."""

    @abstractmethod
    def verify(self, public: bytes, message: bytes, signature: bytes) -> bool:
        """True if `signature` is valid; False for any invalid or malformed input."""

    def verify_many(self, items: Sequence[VerifyItem]) -> list[bool]:
        """Verify many signatures, spread over every core (the GIL is released)."""
        from govchain.crypto.pool import verify_parallel

        return verify_parallel(self, items)

    @abstractmethod
    def encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """AEAD encryption (AES-256-GCM or SM4-GCM); returns ciphertext || 16-byte tag."""

    @abstractmethod
    def decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        """AEAD decryption; raises CryptoError if the tag does not match."""
