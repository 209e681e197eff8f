"""Checking a licence file against the chain: which version it is, and that version's status.

One function for the node's route and for the SDK and CLI, which hash the file
themselves and so never send it (it holds the licence's data) anywhere. The file
names its licence in its metadata (render.file_claim); only the chain's file digests
confirm it, so a file altered by a single byte matches no version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from govchain.contracts.licence.model import check_licence_id
from govchain.contracts.licence.render import file_claim
from govchain.crypto import Suite

FILE_UNKNOWN = "file_unknown"  # the file names no licence (and none was given)
FILE_MISMATCH = "file_mismatch"  # its digest is no version's file digest: altered, or never issued
WRONG_CHAIN = "wrong_chain"
NOT_FOUND = "not_found"

# (licence id, hex digest) -> the public status reply for that digest (GET /v1/licences/{id}?digest=),
# with `matches`: [{version, as: "file" | "data", status}]; LookupError if the chain has no such licence.
Lookup = Callable[[str, str], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class FileVerdict:
    ok: bool  # the file is a version of the licence, and that version is valid now
    code: str  # the matched version's status (valid, suspended, superseded...), or why nothing matched
    message: str
    licence: str | None = None
    version: int | None = None
    digest: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_file(suite: Suite, chain_id: str, pdf: bytes, licence: str | None, lookup: Lookup) -> FileVerdict:
    digest = suite.hash(pdf).hex()
    claim = file_claim(pdf)
    if licence is None:
        if claim is None:
            return FileVerdict(
                False, FILE_UNKNOWN, "the file names no licence: give the licence id", digest=digest
            )
        if claim.chain != chain_id:
            return FileVerdict(
                False, WRONG_CHAIN, f"the file is from chain {claim.chain}, not {chain_id}", claim.licence,
                digest=digest,
            )  # fmt: skip
        licence = claim.licence
    try:
        check_licence_id(licence)
        found = lookup(licence, digest)
    except (LookupError, ValueError) as exc:
        return FileVerdict(False, NOT_FOUND, str(exc), licence, digest=digest)
    files = [m for m in found.get("matches", []) if m["as"] == "file"]
    if not files:
        return FileVerdict(
            False, FILE_MISMATCH,
            f"the file matches no version of {licence} on chain: it was altered, or never issued",
            licence, digest=digest,
        )  # fmt: skip
    match = files[-1]
    status = str(match["status"])
    return FileVerdict(
        status == "valid", status,
        f"the file is version {match['version']} of {licence}, which is {status}",
        licence, int(match["version"]), digest,
    )  # fmt: skip
