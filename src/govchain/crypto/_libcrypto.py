"""SM2 sign/verify through the system OpenSSL 3 libcrypto, via ctypes.

Why not `cryptography`: its SM2 support does not expose the GM/T 0003 Z value
(the signer's distinguishing ID), so a signature it makes is ECDSA-over-SM3, not SM2.
Why not pure Python: an SM2 verify in Python is ~100x slower than libcrypto's.
ctypes releases the GIL for every foreign call, so verification scales over threads.

Keys travel in and out of libcrypto as DER we assemble here:
- public: SubjectPublicKeyInfo {id-ecPublicKey, curve SM2} || the 65-byte SEC1 point,
  read with `d2i_PUBKEY`, which checks the point is on the curve;
- private: PKCS#8 {id-ecPublicKey, curve SM2} wrapping an RFC 5915 ECPrivateKey with the
  scalar and no public key, read with `d2i_AutoPrivateKey`, which derives the public point.
OpenSSL 3 types an EC key on the SM2 curve as an "SM2" key, so the EVP signature
operation is real SM2 (checked with `EVP_PKEY_is_a` on every key we build).

Every signature operation sets the distinguishing ID explicitly (`EVP_PKEY_CTX_set1_id`),
so the Z value is computed with the GM/T 0009 default ID "1234567812345678" (ENTL=0x0080)
whatever the library's own default is.

Parsed public keys are cached (LRU, reference counted, freed on eviction) because
`d2i_PUBKEY` costs about as much as a signature check.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections import OrderedDict
from typing import Any

from govchain.crypto.base import CryptoError

DEFAULT_ID = b"1234567812345678"
"""GM/T 0009 default signer ID; the ENTL prefix (bit length 0x0080) is added by libcrypto."""

SM2_ORDER = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
"""n of the SM2 recommended curve (GM/T 0003.5)."""

# AlgorithmIdentifier { id-ecPublicKey 1.2.840.10045.2.1, sm2 1.2.156.10197.1.301 }.
_ALG_ID = bytes.fromhex("3013 06072a8648ce3d0201 06082a811ccf5501822d")
# SubjectPublicKeyInfo: SEQUENCE(89) { alg, BIT STRING(66) { 0 unused bits, point(65) } }.
_SPKI_PREFIX = bytes.fromhex("3059") + _ALG_ID + bytes.fromhex("0342 00")
# PKCS#8 PrivateKeyInfo: SEQUENCE(65) { INTEGER 0, alg, OCTET STRING(39) {
#   ECPrivateKey SEQUENCE(37) { INTEGER 1, OCTET STRING(32) scalar } } }.
_PKCS8_PREFIX = bytes.fromhex("3041 020100") + _ALG_ID + bytes.fromhex("0427 3025 020101 0420")

PUBLIC_CACHE_SIZE = 4096
PRIVATE_CACHE_SIZE = 64
_MAX_DER_SIG = 72

_c_void_p = ctypes.c_void_p
_c_int = ctypes.c_int
_c_size_t = ctypes.c_size_t
_c_char_p = ctypes.c_char_p


def _load_library() -> ctypes.CDLL:
    """The first libcrypto found that is OpenSSL 3 or newer (SM2 via EVP needs 3.x)."""
    names: list[str] = []
    found = ctypes.util.find_library("crypto")
    if found:
        names.append(found)
    names.append("libcrypto.so.3")
    errors: list[str] = []
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            errors.append(f"{name}: {exc}")
            continue
        version = lib.OpenSSL_version_num
        version.restype = ctypes.c_ulong
        version.argtypes = []
        if version() >= 0x30000000:
            return lib
        errors.append(f"{name}: OpenSSL {version():#x} is older than 3.0")
    raise CryptoError("no usable OpenSSL 3 libcrypto for SM2: " + "; ".join(errors))


_lib = _load_library()


def _bind(name: str, restype: Any, *argtypes: Any) -> Any:
    """A libcrypto function with its C signature declared (pointers must not be truncated to int)."""
    try:
        func = getattr(_lib, name)
    except AttributeError as exc:
        raise CryptoError(f"libcrypto lacks {name}") from exc
    func.restype = restype
    func.argtypes = list(argtypes)
    return func


_ERR_get_error = _bind("ERR_get_error", ctypes.c_ulong)
_ERR_error_string_n = _bind("ERR_error_string_n", None, ctypes.c_ulong, _c_char_p, _c_size_t)
_ERR_clear_error = _bind("ERR_clear_error", None)

_EVP_sm3 = _bind("EVP_sm3", _c_void_p)
_EVP_MD_CTX_new = _bind("EVP_MD_CTX_new", _c_void_p)
_EVP_MD_CTX_free = _bind("EVP_MD_CTX_free", None, _c_void_p)
_EVP_MD_CTX_set_pkey_ctx = _bind("EVP_MD_CTX_set_pkey_ctx", None, _c_void_p, _c_void_p)
_EVP_PKEY_CTX_new = _bind("EVP_PKEY_CTX_new", _c_void_p, _c_void_p, _c_void_p)
_EVP_PKEY_CTX_free = _bind("EVP_PKEY_CTX_free", None, _c_void_p)
_EVP_PKEY_CTX_set1_id = _bind("EVP_PKEY_CTX_set1_id", _c_int, _c_void_p, _c_char_p, _c_int)
_EVP_DigestVerifyInit = _bind(
    "EVP_DigestVerifyInit", _c_int, _c_void_p, _c_void_p, _c_void_p, _c_void_p, _c_void_p
)
_EVP_DigestVerify = _bind("EVP_DigestVerify", _c_int, _c_void_p, _c_char_p, _c_size_t, _c_char_p, _c_size_t)
_EVP_DigestSignInit = _bind(
    "EVP_DigestSignInit", _c_int, _c_void_p, _c_void_p, _c_void_p, _c_void_p, _c_void_p
)
_EVP_DigestSign = _bind(
    "EVP_DigestSign", _c_int, _c_void_p, _c_char_p, ctypes.POINTER(_c_size_t), _c_char_p, _c_size_t
)
_EVP_PKEY_free = _bind("EVP_PKEY_free", None, _c_void_p)
_EVP_PKEY_up_ref = _bind("EVP_PKEY_up_ref", _c_int, _c_void_p)
_EVP_PKEY_is_a = _bind("EVP_PKEY_is_a", _c_int, _c_void_p, _c_char_p)
_EVP_PKEY_get_octet_string_param = _bind(
    "EVP_PKEY_get_octet_string_param",
    _c_int,
    _c_void_p,
    _c_char_p,
    _c_char_p,
    _c_size_t,
    ctypes.POINTER(_c_size_t),
)
_d2i_PUBKEY = _bind("d2i_PUBKEY", _c_void_p, _c_void_p, ctypes.POINTER(_c_char_p), ctypes.c_long)
_d2i_AutoPrivateKey = _bind(
    "d2i_AutoPrivateKey", _c_void_p, _c_void_p, ctypes.POINTER(_c_char_p), ctypes.c_long
)

_SM3_MD: int | None = _EVP_sm3()
if not _SM3_MD:
    raise CryptoError("libcrypto has no SM3 digest")


def _openssl_error(what: str) -> CryptoError:
    """A CryptoError naming the failed call and the first queued OpenSSL error; clears the queue."""
    code = _ERR_get_error()
    detail = ""
    if code:
        buf = ctypes.create_string_buffer(256)
        _ERR_error_string_n(code, buf, len(buf))
        detail = ": " + buf.value.decode("ascii", "replace")
    _ERR_clear_error()
    return CryptoError(f"libcrypto {what} failed{detail}")


def _d2i(func: Any, der: bytes) -> int | None:
    """Run a d2i_* parser over the whole of `der`; None (queue cleared) if it fails or leaves bytes."""
    cursor = _c_char_p(der)
    start = ctypes.cast(cursor, _c_void_p).value
    pkey: int | None = func(None, ctypes.byref(cursor), len(der))
    if not pkey:
        _ERR_clear_error()
        return None
    end = ctypes.cast(cursor, _c_void_p).value
    if start is None or end is None or end - start != len(der) or _EVP_PKEY_is_a(pkey, b"SM2") != 1:
        _EVP_PKEY_free(pkey)
        return None
    return pkey


class _KeyCache:
    """LRU of EVP_PKEY pointers: the cache owns one reference, each borrower takes another.

    A borrower must `release` what `acquire` returned; eviction only drops the cache's
    reference, so a key in use on another thread is never freed under it.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._keys: OrderedDict[bytes, int] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, tag: bytes) -> int | None:
        """The cached key for `tag` with a reference taken for the caller, or None."""
        with self._lock:
            pkey = self._keys.get(tag)
            if pkey is None:
                return None
            self._keys.move_to_end(tag)
            _EVP_PKEY_up_ref(pkey)
            return pkey

    def insert(self, tag: bytes, pkey: int) -> int:
        """Cache a freshly parsed key (its reference passes to the cache); returns it referenced again."""
        evicted: list[int] = []
        with self._lock:
            existing = self._keys.get(tag)
            if existing is not None:
                # Another thread parsed the same key first: keep theirs.
                evicted.append(pkey)
                pkey = existing
            else:
                self._keys[tag] = pkey
                while len(self._keys) > self.size:
                    evicted.append(self._keys.popitem(last=False)[1])
            _EVP_PKEY_up_ref(pkey)
        for old in evicted:
            _EVP_PKEY_free(old)
        return pkey

    def clear(self) -> None:
        """Drop every cached key (borrowed references stay valid)."""
        with self._lock:
            keys = list(self._keys.values())
            self._keys.clear()
        for pkey in keys:
            _EVP_PKEY_free(pkey)

    def __len__(self) -> int:
        return len(self._keys)


public_keys = _KeyCache(PUBLIC_CACHE_SIZE)
private_keys = _KeyCache(PRIVATE_CACHE_SIZE)


def _acquire_public(public: bytes) -> int | None:
    """A referenced EVP_PKEY for a 65-byte SEC1 point, or None if it is not a point on SM2."""
    pkey = public_keys.acquire(public)
    if pkey is not None:
        return pkey
    parsed = _d2i(_d2i_PUBKEY, _SPKI_PREFIX + public)
    if parsed is None:
        return None
    return public_keys.insert(public, parsed)


def _acquire_private(private: bytes) -> int:
    """A referenced EVP_PKEY for a 32-byte scalar already checked to be in [1, n-2]."""
    pkey = private_keys.acquire(private)
    if pkey is not None:
        return pkey
    parsed = _d2i(_d2i_AutoPrivateKey, _PKCS8_PREFIX + private)
    if parsed is None:
        raise CryptoError("libcrypto rejected the SM2 private key")
    return private_keys.insert(private, parsed)


def _new_md_ctx(pkey: int) -> tuple[int, int]:
    """An EVP_MD_CTX and its EVP_PKEY_CTX carrying the default ID; the caller frees both."""
    mctx: int | None = _EVP_MD_CTX_new()
    if not mctx:
        raise _openssl_error("EVP_MD_CTX_new")
    pctx: int | None = _EVP_PKEY_CTX_new(pkey, None)
    if not pctx:
        _EVP_MD_CTX_free(mctx)
        raise _openssl_error("EVP_PKEY_CTX_new")
    if _EVP_PKEY_CTX_set1_id(pctx, DEFAULT_ID, len(DEFAULT_ID)) <= 0:
        _EVP_MD_CTX_free(mctx)
        _EVP_PKEY_CTX_free(pctx)
        raise _openssl_error("EVP_PKEY_CTX_set1_id")
    # The MD_CTX does not take ownership (EVP_MD_CTX_FLAG_KEEP_PKEY_CTX), so both are freed by us.
    _EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
    return mctx, pctx


def verify(public: bytes, message: bytes, der_signature: bytes) -> bool:
    """SM2 verify of a DER signature over `message` with the default ID; False for any bad input.

    Raises CryptoError only when libcrypto cannot allocate or initialise a context.
    """
    pkey = _acquire_public(public)
    if pkey is None:
        return False
    try:
        mctx, pctx = _new_md_ctx(pkey)
        try:
            if _EVP_DigestVerifyInit(mctx, None, _SM3_MD, None, pkey) != 1:
                raise _openssl_error("EVP_DigestVerifyInit")
            rc: int = _EVP_DigestVerify(mctx, der_signature, len(der_signature), message, len(message))
        finally:
            _EVP_MD_CTX_free(mctx)
            _EVP_PKEY_CTX_free(pctx)
    finally:
        _EVP_PKEY_free(pkey)
    if rc == 1:
        return True
    # 0 is a bad signature, < 0 a malformed one; either way the error queue must not pile up.
    _ERR_clear_error()
    return False


def sign(private: bytes, message: bytes) -> bytes:
    """SM2 signature (DER) over `message` with the default ID; `private` must be in [1, n-2]."""
    pkey = _acquire_private(private)
    try:
        mctx, pctx = _new_md_ctx(pkey)
        try:
            if _EVP_DigestSignInit(mctx, None, _SM3_MD, None, pkey) != 1:
                raise _openssl_error("EVP_DigestSignInit")
            out = ctypes.create_string_buffer(_MAX_DER_SIG)
            out_len = _c_size_t(len(out))
            if _EVP_DigestSign(mctx, out, ctypes.byref(out_len), message, len(message)) != 1:
                raise _openssl_error("EVP_DigestSign")
        finally:
            _EVP_MD_CTX_free(mctx)
            _EVP_PKEY_CTX_free(pctx)
    finally:
        _EVP_PKEY_free(pkey)
    return out.raw[: out_len.value]


def public_from_private(private: bytes) -> bytes:
    """The 65-byte uncompressed point for a scalar already checked to be in [1, n-2]."""
    pkey = _acquire_private(private)
    try:
        out = ctypes.create_string_buffer(65)
        out_len = _c_size_t(0)
        if _EVP_PKEY_get_octet_string_param(pkey, b"pub", out, len(out), ctypes.byref(out_len)) != 1:
            raise _openssl_error("EVP_PKEY_get_octet_string_param(pub)")
    finally:
        _EVP_PKEY_free(pkey)
    point = out.raw[: out_len.value]
    if len(point) != 65 or point[0] != 4:
        raise CryptoError("libcrypto returned a public key that is not an uncompressed point")
    return point
