"""The `intl` suite: ECDSA P-256 with SHA-256, SHA-256, AES-256-GCM, all from `cryptography`.

Signatures are not normalised to low-S and high-S signatures are accepted: a transaction
id is the hash of the signed body, not of the signature, so a second valid encoding of
the same signature cannot create a different transaction.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from govchain.crypto.base import (
    NONCE_SIZE,
    PRIVATE_KEY_SIZE,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    CryptoError,
    Hasher,
    KeyPair,
    Suite,
)

PUBLIC_CACHE_SIZE = 4096
PRIVATE_CACHE_SIZE = 64
_TAG_SIZE = 16
_CURVE = ec.SECP256R1()
_ECDSA = ec.ECDSA(hashes.SHA256())


class IntlSuite(Suite):
    """NIST P-256 / SHA-256 / AES-256-GCM; public keys are cached because loading one costs a verify."""

    name = "intl"
    hash_name = "sha256"
    sign_name = "ecdsa-p256-sha256"
    aead_name = "aes-256-gcm"
    aead_key_size = 32

    def __init__(self) -> None:
        self._public: OrderedDict[bytes, ec.EllipticCurvePublicKey] = OrderedDict()
        self._private: OrderedDict[bytes, ec.EllipticCurvePrivateKey] = OrderedDict()
        self._lock = threading.Lock()

    def hash(self, data: bytes) -> bytes:
        """SHA-256 (hashlib is the cheapest call for the many small inputs a chain hashes)."""
        return hashlib.sha256(data).digest()

    def hasher(self) -> Hasher:
        return hashlib.sha256()

    def generate_keypair(self) -> KeyPair:
        """A key from OpenSSL's CSPRNG."""
        key = ec.generate_private_key(_CURVE)
        private = key.private_numbers().private_value.to_bytes(PRIVATE_KEY_SIZE, "big")
        return KeyPair(private=private, public=_encode_public(key.public_key()))

    def public_key(self, private: bytes) -> bytes:
        """The uncompressed point for a 32-byte scalar; CryptoError if it is not in [1, n-1]."""
        return _encode_public(self._private_key(private).public_key())

    def sign(self, private: bytes, message: bytes) -> bytes:
        """ECDSA (randomised k) over SHA-256(message), as r || s."""
        der = self._private_key(private).sign(message, _ECDSA)
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, public: bytes, message: bytes, signature: bytes) -> bool:
        """ECDSA check; False (never an exception) for a bad signature, key or length."""
        try:
            if len(signature) != SIGNATURE_SIZE:
                return False
            key = self._public.get(public)
            if key is None:
                key = self._load_public(public)
                if key is None:
                    return False
            else:
                # LRU touch without a lock: each OrderedDict call is atomic under the GIL
                # (contextlib.suppress would cost more than the touch on this hot path).
                try:  # noqa: SIM105
                    self._public.move_to_end(public)
                except KeyError:  # evicted by another thread just now; the object is still good
                    pass
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.verify(der, message, _ECDSA)
            return True
        except (InvalidSignature, TypeError, ValueError):
            return False

    def encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """AES-256-GCM; returns ciphertext || 16-byte tag."""
        return _aesgcm(key, nonce).encrypt(nonce, plaintext, aad)

    def decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        """AES-256-GCM; CryptoError if the tag (or anything else) does not check out."""
        if len(ciphertext) < _TAG_SIZE:
            raise CryptoError("ciphertext is shorter than the GCM tag")
        try:
            return _aesgcm(key, nonce).decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise CryptoError("AES-GCM authentication failed") from None

    def _load_public(self, public: bytes) -> ec.EllipticCurvePublicKey | None:
        """Parse (and cache) a SEC1 point; None if it is not an uncompressed point on P-256."""
        if len(public) != PUBLIC_KEY_SIZE or public[0] != 4:
            return None
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, public)
        except ValueError:
            return None
        with self._lock:
            self._public[public] = key
            if len(self._public) > PUBLIC_CACHE_SIZE:
                self._public.popitem(last=False)
        return key

    def _private_key(self, private: bytes) -> ec.EllipticCurvePrivateKey:
        """The key object for a scalar (cached: a node signs with the same key all day)."""
        key = self._private.get(private)
        if key is not None:
            return key
        if len(private) != PRIVATE_KEY_SIZE:
            raise CryptoError(f"private key must be {PRIVATE_KEY_SIZE} bytes, got {len(private)}")
        try:
            key = ec.derive_private_key(int.from_bytes(private, "big"), _CURVE)
        except ValueError as exc:
            raise CryptoError(f"invalid P-256 private key: {exc}") from None
        with self._lock:
            self._private[private] = key
            if len(self._private) > PRIVATE_CACHE_SIZE:
                self._private.popitem(last=False)
        return key


def _encode_public(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _aesgcm(key: bytes, nonce: bytes) -> AESGCM:
    if len(key) != 32:
        raise CryptoError(f"AES-256-GCM key must be 32 bytes, got {len(key)}")
    if len(nonce) != NONCE_SIZE:
        raise CryptoError(f"GCM nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
    return AESGCM(key)
