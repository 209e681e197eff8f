"""The `gm` suite (Chinese commercial cryptography): SM2 signatures, SM3, SM4-GCM.

SM2 follows GM/T 0003 with the Z value over the default user ID "1234567812345678"
(ENTL = 0x0080), which is what other SM2 stacks (GmSSL, Tongsuo, BouncyCastle, the
OpenSSL CLI with `distid`) use when no ID is agreed, so their signatures interoperate.
Sign/verify run in the system libcrypto (see `_libcrypto`); SM3 and SM4-GCM come from
`cryptography`, which has both.

As with `intl`, any valid (r, s) is accepted: transaction ids hash the signed body, so
signature malleability cannot forge a distinct transaction.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from govchain.crypto import _libcrypto
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

SM2_ORDER = _libcrypto.SM2_ORDER
SM4_KEY_SIZE = 16
_TAG_SIZE = 16
_SM3 = hashes.SM3()


class _Sm3Hasher:
    """`cryptography`'s SM3 context with hashlib's update/digest shape."""

    def __init__(self) -> None:
        self._ctx = hashes.Hash(_SM3)

    def update(self, data: bytes, /) -> None:
        self._ctx.update(data)

    def digest(self) -> bytes:
        return self._ctx.finalize()


class GmSuite(Suite):
    """SM2-with-SM3 (default ID) / SM3 / SM4-GCM."""

    name = "gm"
    hash_name = "sm3"
    sign_name = "sm2-sm3"
    aead_name = "sm4-gcm"
    aead_key_size = SM4_KEY_SIZE

    def hash(self, data: bytes) -> bytes:
        """SM3 (GB/T 32905)."""
        digest = hashes.Hash(_SM3)
        digest.update(data)
        return digest.finalize()

    def hasher(self) -> Hasher:
        return _Sm3Hasher()

    def generate_keypair(self) -> KeyPair:
        """A scalar uniform in [1, n-2] (SM2 needs 1 + d invertible) from the OS CSPRNG."""
        private = (secrets.randbelow(SM2_ORDER - 2) + 1).to_bytes(PRIVATE_KEY_SIZE, "big")
        return KeyPair(private=private, public=_libcrypto.public_from_private(private))

    def public_key(self, private: bytes) -> bytes:
        """d·G, computed by libcrypto, as an uncompressed point."""
        return _libcrypto.public_from_private(_check_private(private))

    def sign(self, private: bytes, message: bytes) -> bytes:
        """SM2 signature of `message` (libcrypto hashes Z || message with SM3), as r || s."""
        der = _libcrypto.sign(_check_private(private), message)
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, public: bytes, message: bytes, signature: bytes) -> bool:
        """SM2 check in libcrypto; False (never an exception) for a bad signature, key or length.

        Only a failure of libcrypto itself (no memory for a context) raises CryptoError:
        that is not evidence against the signature, so it must not read as "invalid".
        """
        try:
            if len(signature) != SIGNATURE_SIZE or len(public) != PUBLIC_KEY_SIZE or public[0] != 4:
                return False
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            if not (0 < r < SM2_ORDER and 0 < s < SM2_ORDER):
                return False
            return _libcrypto.verify(bytes(public), bytes(message), encode_dss_signature(r, s))
        except (TypeError, ValueError):
            return False

    def encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """SM4-GCM (RFC 8998); returns ciphertext || 16-byte tag."""
        _check_aead(key, nonce)
        encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        if aad:
            encryptor.authenticate_additional_data(aad)
        body = encryptor.update(plaintext) + encryptor.finalize()
        return body + encryptor.tag

    def decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        """SM4-GCM; CryptoError if the tag does not match (nothing is returned before the check)."""
        _check_aead(key, nonce)
        if len(ciphertext) < _TAG_SIZE:
            raise CryptoError("ciphertext is shorter than the GCM tag")
        body, tag = ciphertext[:-_TAG_SIZE], ciphertext[-_TAG_SIZE:]
        decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
        if aad:
            decryptor.authenticate_additional_data(aad)
        plaintext = decryptor.update(body)
        try:
            return plaintext + decryptor.finalize()
        except InvalidTag:
            raise CryptoError("SM4-GCM authentication failed") from None


def _check_private(private: bytes) -> bytes:
    """`private` if it is a 32-byte scalar in [1, n-2]; CryptoError otherwise."""
    if len(private) != PRIVATE_KEY_SIZE:
        raise CryptoError(f"private key must be {PRIVATE_KEY_SIZE} bytes, got {len(private)}")
    if not 1 <= int.from_bytes(private, "big") <= SM2_ORDER - 2:
        raise CryptoError("SM2 private key is outside [1, n-2]")
    return bytes(private)


def _check_aead(key: bytes, nonce: bytes) -> None:
    if len(key) != SM4_KEY_SIZE:
        raise CryptoError(f"SM4-GCM key must be {SM4_KEY_SIZE} bytes, got {len(key)}")
    if len(nonce) != NONCE_SIZE:
        raise CryptoError(f"GCM nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
