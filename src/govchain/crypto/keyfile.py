"""Key files: a suite name and a key pair as JSON, readable only by their owner (mode 0600)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from govchain.crypto.base import CryptoError, KeyPair, Suite
from govchain.crypto.suites import get_suite


@dataclass(frozen=True, slots=True)
class KeyFile:
    suite: str
    keys: KeyPair

    def save(self, path: Path) -> None:
        """Write with mode 0600 from the start, so the secret is never world-readable."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(
            {"suite": self.suite, "private": self.keys.private.hex(), "public": self.keys.public.hex()},
            indent=2,
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(data + "\n")

    @classmethod
    def load(cls, path: Path) -> KeyFile:
        try:
            value = json.loads(path.read_text())
            suite = get_suite(value["suite"])
            private = bytes.fromhex(value["private"])
            public = suite.public_key(private)
        except (OSError, ValueError, KeyError, TypeError, CryptoError) as exc:
            raise ValueError(f"{path}: not a usable govchain key file ({exc})") from None
        if value.get("public") and bytes.fromhex(value["public"]) != public:
            raise ValueError(f"{path}: public key does not match the private key")
        return cls(suite.name, KeyPair(private, public))

    @classmethod
    def generate(cls, suite: Suite) -> KeyFile:
        return cls(suite.name, suite.generate_keypair())
