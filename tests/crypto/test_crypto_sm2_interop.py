"""SM2 against the standard and against implementations other than ours.

- GM/T 0003.5-2012 (= GB/T 32918.5-2017) Annex A: the signature example on the recommended
  curve with ID "1234567812345678", message "message digest";
- gmssl: an independent pure-Python SM2 (signs and verifies in both directions);
- the `openssl pkeyutl` CLI with `-pkeyopt distid:1234567812345678`.
"""

from __future__ import annotations

import base64
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from gmssl.sm2 import CryptSM2  # type: ignore[import-untyped]

from govchain.crypto import get_suite
from govchain.crypto._libcrypto import _PKCS8_PREFIX, _SPKI_PREFIX
from govchain.crypto.gm import SM2_ORDER

GM = get_suite("gm")

# Recommended curve parameters (GM/T 0003.5).
SM2_A = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")
SM2_B = bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
SM2_GX = bytes.fromhex("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7")
SM2_GY = bytes.fromhex("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")

# GM/T 0003.5-2012 Annex A, digital signature example.
VEC_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
VEC_PUB = bytes.fromhex(
    "04"
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
VEC_ID = b"1234567812345678"
VEC_MSG = b"message digest"
VEC_Z = bytes.fromhex("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
VEC_E = bytes.fromhex("F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640")
VEC_K = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"
VEC_SIG = bytes.fromhex(
    "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
    "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
)


def z_value(public: bytes, uid: bytes) -> bytes:
    """Z = SM3(ENTL || ID || a || b || Gx || Gy || Px || Py), written out from the standard."""
    entl = (len(uid) * 8).to_bytes(2, "big")
    return GM.hash(entl + uid + SM2_A + SM2_B + SM2_GX + SM2_GY + public[1:])


def gmssl_for(private: bytes, public: bytes) -> CryptSM2:
    signer = CryptSM2(private_key=private.hex(), public_key=public[1:].hex())
    signer.public_key = public[1:].hex()  # its constructor lstrip("04")s, which eats leading '0'/'4' digits
    return signer


def gmssl_sign_digest(private: bytes, public: bytes, digest: bytes) -> bytes:
    """A raw SM2 signature over `digest` taken as e (no Z added by gmssl)."""
    signature: str | None = None
    while signature is None:  # gmssl returns None for the (negligible) r = 0 / r + k = n cases
        k = secrets.randbelow(SM2_ORDER - 1) + 1
        signature = gmssl_for(private, public).sign(digest, f"{k:064x}")
    return bytes.fromhex(signature)


# --- the standard's example -------------------------------------------------------------------


def test_standard_vector_public_key_and_z() -> None:
    assert GM.public_key(VEC_D) == VEC_PUB
    assert z_value(VEC_PUB, VEC_ID) == VEC_Z
    assert GM.hash(VEC_Z + VEC_MSG) == VEC_E


def test_standard_vector_signature_verifies_with_default_id() -> None:
    assert GM.verify(VEC_PUB, VEC_MSG, VEC_SIG)
    assert not GM.verify(VEC_PUB, VEC_MSG + b".", VEC_SIG)


def test_standard_vector_signature_reproduced_by_gmssl_with_fixed_k() -> None:
    # Confirms gmssl (the cross-check below) implements the same scheme as the standard.
    assert gmssl_for(VEC_D, VEC_PUB).sign(VEC_E, VEC_K).upper() == VEC_SIG.hex().upper()


# --- gmssl, both directions -------------------------------------------------------------------


def test_gmssl_signatures_verify_here() -> None:
    for index in range(4):
        pair = GM.generate_keypair()
        message = b"gmssl -> govchain #%d " % index + secrets.token_bytes(index * 40)
        signature = bytes.fromhex(gmssl_for(pair.private, pair.public).sign_with_sm3(message))
        assert GM.verify(pair.public, message, signature)
        assert not GM.verify(pair.public, message + b"x", signature)


def test_our_signatures_verify_in_gmssl() -> None:
    for index in range(4):
        pair = GM.generate_keypair()
        message = b"govchain -> gmssl #%d " % index + secrets.token_bytes(index * 40)
        signature = GM.sign(pair.private, message)
        other = gmssl_for(pair.private, pair.public)
        assert other.verify_with_sm3(signature.hex(), message)
        assert not other.verify_with_sm3(signature.hex(), message + b"x")


def test_signature_without_the_default_id_does_not_verify() -> None:
    pair = GM.generate_keypair()
    message = b"plain ECDSA-style SM2, no Z"
    no_z = gmssl_sign_digest(pair.private, pair.public, GM.hash(message))
    assert gmssl_for(pair.private, pair.public).verify(no_z.hex(), GM.hash(message))  # valid as raw SM2
    assert not GM.verify(pair.public, message, no_z)

    other_id = b"ALICE123@YAHOO.COM"
    e_other = GM.hash(z_value(pair.public, other_id) + message)
    assert not GM.verify(pair.public, message, gmssl_sign_digest(pair.private, pair.public, e_other))

    e_default = GM.hash(z_value(pair.public, VEC_ID) + message)
    assert GM.verify(pair.public, message, gmssl_sign_digest(pair.private, pair.public, e_default))


# --- the OpenSSL command line -----------------------------------------------------------------


def _openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("no openssl CLI")
    version = subprocess.run([path, "version"], capture_output=True, text=True, check=True).stdout
    match = re.match(r"OpenSSL (\d+)\.", version)
    if match is None or int(match.group(1)) < 3:
        pytest.skip(f"openssl CLI is not 3.x: {version.strip()}")
    return path


def _pem(label: str, der: bytes) -> str:
    return f"-----BEGIN {label}-----\n{base64.encodebytes(der).decode()}-----END {label}-----\n"


def _der_to_raw(der: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _raw_to_der(raw: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def test_openssl_cli_agrees(tmp_path: Path) -> None:
    openssl = _openssl()
    pair = GM.generate_keypair()
    message = b"cross-checked with openssl pkeyutl"
    (tmp_path / "pub.pem").write_text(_pem("PUBLIC KEY", _SPKI_PREFIX + pair.public))
    (tmp_path / "key.pem").write_text(_pem("PRIVATE KEY", _PKCS8_PREFIX + pair.private))
    (tmp_path / "msg").write_bytes(message)
    (tmp_path / "ours.sig").write_bytes(_raw_to_der(GM.sign(pair.private, message)))
    common = ["-rawin", "-digest", "sm3", "-in", str(tmp_path / "msg")]
    distid = ["-pkeyopt", "distid:1234567812345678"]

    def cli_verify(sig: str, *extra: str) -> bool:
        result = subprocess.run(
            [
                openssl,
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                str(tmp_path / "pub.pem"),
                *common,
                "-sigfile",
                str(tmp_path / sig),
                *extra,
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
        return result.returncode == 0

    assert cli_verify("ours.sig", *distid)
    assert not cli_verify("ours.sig", "-pkeyopt", "distid:ALICE123@YAHOO.COM")

    subprocess.run(
        [
            openssl,
            "pkeyutl",
            "-sign",
            "-inkey",
            str(tmp_path / "key.pem"),
            *common,
            *distid,
            "-out",
            str(tmp_path / "cli.sig"),
        ],
        capture_output=True,
        timeout=30,
        check=True,
    )
    cli_signature = _der_to_raw((tmp_path / "cli.sig").read_bytes())
    assert GM.verify(pair.public, message, cli_signature)
    assert not GM.verify(pair.public, message + b"!", cli_signature)
    # the CLI read our PKCS#8 as the same key pair
    (tmp_path / "vec.pem").write_text(_pem("PRIVATE KEY", _PKCS8_PREFIX + VEC_D))
    text = subprocess.run(
        [openssl, "pkey", "-in", str(tmp_path / "vec.pem"), "-text", "-noout"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "SM2" in text
    assert VEC_PUB.hex() in re.sub(r"[\s:]", "", text.split("pub:")[1])
