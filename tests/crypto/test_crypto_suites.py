"""Behaviour of both crypto suites: known answers, interop with independent SM2 code, rejection."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govchain.crypto import (
    HASH_SIZE,
    PRIVATE_KEY_SIZE,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    SUITE_NAMES,
    CryptoError,
    Suite,
    get_suite,
)
from govchain.crypto.gm import SM2_ORDER, GmSuite
from govchain.crypto.intl import IntlSuite

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.fixture(params=SUITE_NAMES)
def suite(request: pytest.FixtureRequest) -> Suite:
    return get_suite(request.param)


# --- registry ---------------------------------------------------------------------------------


def test_registry_returns_singletons_of_the_right_class() -> None:
    assert SUITE_NAMES == ("intl", "gm")
    assert get_suite("intl") is get_suite("intl")
    assert get_suite("gm") is get_suite("gm")
    assert isinstance(get_suite("intl"), IntlSuite)
    assert isinstance(get_suite("gm"), GmSuite)
    assert get_suite("intl").name == "intl"
    assert get_suite("gm").name == "gm"


def test_unknown_suite_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"'rsa'.*intl, gm"):
        get_suite("rsa")


def test_suite_metadata() -> None:
    intl, gm = get_suite("intl"), get_suite("gm")
    assert (intl.hash_name, intl.aead_name, intl.aead_key_size) == ("sha256", "aes-256-gcm", 32)
    assert (gm.hash_name, gm.aead_name, gm.aead_key_size) == ("sm3", "sm4-gcm", 16)


# --- hash known answers -----------------------------------------------------------------------


def test_sha256_known_answer() -> None:
    intl = get_suite("intl")
    assert intl.hash(b"abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert intl.hash(b"").hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_sm3_known_answers_gbt_32905() -> None:
    gm = get_suite("gm")
    assert gm.hash(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert gm.hash(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_hash_size(suite: Suite) -> None:
    assert len(suite.hash(b"x" * 1000)) == HASH_SIZE


# --- block cipher / AEAD known answers --------------------------------------------------------


def test_sm4_block_known_answer_gbt_32907() -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    block = encryptor.update(key) + encryptor.finalize()
    assert block.hex() == "681edf34d206965e86b3e94f536e4246"


RFC8998_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
RFC8998_IV = bytes.fromhex("00001234567800000000ABCD")
RFC8998_AAD = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
RFC8998_PT = bytes.fromhex(
    "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
    "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
)
RFC8998_CT_TAG = bytes.fromhex(
    "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
    "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
    "83DE3541E4C2B58177E065A9BF7B62EC"
)


def test_sm4_gcm_rfc8998_vector() -> None:
    gm = get_suite("gm")
    assert gm.encrypt(RFC8998_KEY, RFC8998_IV, RFC8998_PT, RFC8998_AAD) == RFC8998_CT_TAG
    assert gm.decrypt(RFC8998_KEY, RFC8998_IV, RFC8998_CT_TAG, RFC8998_AAD) == RFC8998_PT


def test_aes_256_gcm_known_answer() -> None:
    # McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16.
    key = bytes.fromhex("feffe9928665731c6d6a8f9467308308" * 2)
    iv = bytes.fromhex("cafebabefacedbaddecaf888")
    aad = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    plaintext = bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    )
    expected = bytes.fromhex(
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        "76fc6ece0f4e1768cddf8853bb2d551b"
    )
    intl = get_suite("intl")
    assert intl.encrypt(key, iv, plaintext, aad) == expected
    assert intl.decrypt(key, iv, expected, aad) == plaintext


# --- AEAD behaviour ---------------------------------------------------------------------------


def test_aead_round_trip(suite: Suite) -> None:
    key = bytes(range(suite.aead_key_size))
    nonce = bytes(12)
    for plaintext in (b"", b"x", b"licence #42" * 100):
        sealed = suite.encrypt(key, nonce, plaintext, b"header")
        assert len(sealed) == len(plaintext) + 16
        assert suite.decrypt(key, nonce, sealed, b"header") == plaintext
    assert suite.decrypt(key, nonce, suite.encrypt(key, nonce, b"no aad")) == b"no aad"


def test_aead_rejects_tampering(suite: Suite) -> None:
    key = bytes(range(suite.aead_key_size))
    nonce = bytes(range(12))
    sealed = suite.encrypt(key, nonce, b"certificate body", b"aad")
    for index in (0, len(sealed) - 17, len(sealed) - 1):  # body start, body end, tag
        tampered = bytearray(sealed)
        tampered[index] ^= 0x01
        with pytest.raises(CryptoError):
            suite.decrypt(key, nonce, bytes(tampered), b"aad")
    with pytest.raises(CryptoError):
        suite.decrypt(key, nonce, sealed, b"other aad")
    with pytest.raises(CryptoError):
        suite.decrypt(bytes(suite.aead_key_size), nonce, sealed, b"aad")
    with pytest.raises(CryptoError):
        suite.decrypt(key, bytes(12), sealed, b"aad")
    with pytest.raises(CryptoError):
        suite.decrypt(key, nonce, sealed[:15], b"aad")


def test_aead_rejects_bad_sizes(suite: Suite) -> None:
    good_key = bytes(suite.aead_key_size)
    for key in (b"", bytes(suite.aead_key_size - 1), bytes(suite.aead_key_size + 1)):
        with pytest.raises(CryptoError):
            suite.encrypt(key, bytes(12), b"x")
    for nonce in (b"", bytes(8), bytes(16)):
        with pytest.raises(CryptoError):
            suite.encrypt(good_key, nonce, b"x")
        with pytest.raises(CryptoError):
            suite.decrypt(good_key, nonce, bytes(32))


# --- signatures: behaviour common to both suites ----------------------------------------------


def test_keypair_encoding(suite: Suite) -> None:
    pair = suite.generate_keypair()
    assert len(pair.private) == PRIVATE_KEY_SIZE
    assert len(pair.public) == PUBLIC_KEY_SIZE and pair.public[0] == 4
    assert suite.public_key(pair.private) == pair.public
    assert suite.generate_keypair().private != pair.private


def test_sign_verify(suite: Suite) -> None:
    pair = suite.generate_keypair()
    signature = suite.sign(pair.private, b"notarise: deed 2024-001")
    assert len(signature) == SIGNATURE_SIZE
    assert suite.verify(pair.public, b"notarise: deed 2024-001", signature)
    # randomised k: two signatures differ, both valid
    again = suite.sign(pair.private, b"notarise: deed 2024-001")
    assert again != signature and suite.verify(pair.public, b"notarise: deed 2024-001", again)
    assert suite.verify(pair.public, b"", suite.sign(pair.private, b""))


def _malformed_inputs(suite: Suite) -> list[tuple[bytes, bytes, bytes]]:
    pair = suite.generate_keypair()
    other = suite.generate_keypair()
    message = b"transfer licence 7 to org 12"
    signature = suite.sign(pair.private, message)
    order = SM2_ORDER if suite.name == "gm" else P256_ORDER
    r, s = signature[:32], signature[32:]
    flipped_r = bytes([signature[0] ^ 0x80]) + signature[1:]
    flipped_s = signature[:63] + bytes([signature[63] ^ 0x01])
    off_curve = b"\x04" + pair.public[1:33] + bytes([pair.public[33] ^ 1]) + pair.public[34:]
    zero32 = bytes(32)
    n32 = order.to_bytes(32, "big")
    cases = [
        (pair.public, message + b"!", signature),  # tampered message
        (pair.public, message[:-1], signature),
        (pair.public, message, flipped_r),  # tampered signature
        (pair.public, message, flipped_s),
        (pair.public, message, s + r),  # halves swapped
        (other.public, message, signature),  # wrong key
        (pair.public, message, zero32 + s),  # r = 0
        (pair.public, message, r + zero32),  # s = 0
        (pair.public, message, n32 + s),  # r = n
        (pair.public, message, r + n32),  # s = n
        (pair.public, message, b"\xff" * 64),
        (pair.public, message, signature[:63]),  # bad signature lengths
        (pair.public, message, signature + b"\x00"),
        (pair.public, message, b""),
        (pair.public, message, bytes(72)),
        (pair.public[:64], message, signature),  # bad key lengths
        (pair.public + b"\x00", message, signature),
        (pair.public[1:], message, signature),
        (b"", message, signature),
        (b"\x02" + pair.public[1:33], message, signature),  # compressed form is not accepted
        (b"\x02" + pair.public[1:], message, signature),  # wrong prefix, right length
        (b"\x05" + pair.public[1:], message, signature),
        (off_curve, message, signature),  # not on the curve
        (b"\x04" + bytes(64), message, signature),  # (0, 0)
        (b"\x04" + b"\xff" * 64, message, signature),
        (bytes(65), message, signature),
    ]
    assert suite.verify(pair.public, message, signature)
    return cases


def test_invalid_signatures_and_malformed_inputs_return_false(suite: Suite) -> None:
    for index, (public, message, signature) in enumerate(_malformed_inputs(suite)):
        assert suite.verify(public, message, signature) is False, f"case {index} verified"


def test_verify_rejects_non_bytes_without_raising(suite: Suite) -> None:
    pair = suite.generate_keypair()
    signature = suite.sign(pair.private, b"m")
    assert suite.verify("04" * 65, b"m", signature) is False  # type: ignore[arg-type]
    assert suite.verify(pair.public, b"m", "x" * 64) is False  # type: ignore[arg-type]


def test_key_of_the_other_curve_is_rejected() -> None:
    intl, gm = get_suite("intl"), get_suite("gm")
    p256 = intl.generate_keypair()
    sm2 = gm.generate_keypair()
    assert gm.verify(p256.public, b"m", gm.sign(sm2.private, b"m")) is False
    assert intl.verify(sm2.public, b"m", intl.sign(p256.private, b"m")) is False


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("gm", bytes(32)),
        ("gm", (SM2_ORDER - 1).to_bytes(32, "big")),  # n-1: 1 + d is not invertible
        ("gm", SM2_ORDER.to_bytes(32, "big")),
        ("gm", b"\xff" * 32),
        ("gm", b"\x01" * 31),
        ("gm", b"\x01" * 33),
        ("intl", bytes(32)),
        ("intl", P256_ORDER.to_bytes(32, "big")),
        ("intl", b"\x01" * 31),
    ],
)
def test_bad_private_keys_raise(name: str, bad: bytes) -> None:
    suite = get_suite(name)
    with pytest.raises(CryptoError):
        suite.sign(bad, b"m")
    with pytest.raises(CryptoError):
        suite.public_key(bad)


def test_sm2_largest_valid_private_key() -> None:
    gm = get_suite("gm")
    d = (SM2_ORDER - 2).to_bytes(32, "big")
    assert gm.verify(gm.public_key(d), b"edge", gm.sign(d, b"edge"))
    one = (1).to_bytes(32, "big")
    # 1·G is the generator itself
    assert gm.public_key(one) == bytes.fromhex(
        "04"
        "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7"
        "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0"
    )
    assert gm.verify(gm.public_key(one), b"edge", gm.sign(one, b"edge"))


# --- properties -------------------------------------------------------------------------------

_KEYS = {name: get_suite(name).generate_keypair() for name in SUITE_NAMES}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=st.binary(max_size=600), name=st.sampled_from(SUITE_NAMES))
def test_property_sign_verify_round_trip(message: bytes, name: str) -> None:
    suite = get_suite(name)
    pair = _KEYS[name]
    signature = suite.sign(pair.private, message)
    assert suite.verify(pair.public, message, signature)
    assert not suite.verify(pair.public, message + b"\x00", signature)


@settings(max_examples=50, deadline=None)
@given(
    name=st.sampled_from(SUITE_NAMES),
    public=st.binary(min_size=0, max_size=70),
    message=st.binary(max_size=64),
    signature=st.binary(min_size=0, max_size=70),
)
def test_property_garbage_never_raises(name: str, public: bytes, message: bytes, signature: bytes) -> None:
    assert get_suite(name).verify(public, message, signature) is False


@pytest.mark.parametrize("name", ["intl", "gm"])
@settings(max_examples=40, deadline=None)
@given(chunks=st.lists(st.binary(max_size=5000), max_size=8))
def test_incremental_hash_equals_one_shot(name: str, chunks: list[bytes]) -> None:
    suite = get_suite(name)
    hasher = suite.hasher()
    for chunk in chunks:
        hasher.update(chunk)
    assert hasher.digest() == suite.hash(b"".join(chunks))
