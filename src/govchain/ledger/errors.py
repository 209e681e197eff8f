"""Machine-readable reason codes, shared by the API, the state machine and the SDK.

A code names *why* something was refused; the message explains it to a person.
Codes are stable strings: clients branch on them, so never rename one.
"""

from __future__ import annotations

# Admission (stateless checks before ordering) -------------------------------
MALFORMED = "malformed"  # not decodable as a transaction envelope
NOT_CANONICAL = "not_canonical"  # valid CBOR, but not the canonical encoding
TOO_LARGE = "too_large"  # over the size limit
INVALID_FIELD = "invalid_field"  # a field is missing or of the wrong type/size
UNSUPPORTED_VERSION = "unsupported_version"
WRONG_CHAIN = "wrong_chain"  # the chain id is not this chain's
EXPIRED = "expired"  # expiry is at or before the current time
EXPIRY_TOO_FAR = "expiry_too_far"  # expiry beyond the chain's maximum lifetime
BAD_SIGNATURE = "bad_signature"
REPLAYED = "replayed"  # this transaction id is already committed or pending
BATCH_TOO_LARGE = "batch_too_large"
OVERLOADED = "overloaded"  # the node's queue is full: retry later
UNKNOWN_CONTRACT = "unknown_contract"
UNKNOWN_METHOD = "unknown_method"

# Execution (deterministic, inside the state machine) --------------------------
OK = "ok"
INVALID_ARGS = "invalid_args"
FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"
CONFLICT = "conflict"
CONTRACT_ERROR = "contract_error"  # the contract itself misbehaved

# Membership (consortium chains) ---------------------------------------------------
NOT_A_MEMBER = "not_a_member"  # the sender's key is not enrolled
MEMBER_REVOKED = "member_revoked"
MEMBER_EXPIRED = "member_expired"
MEMBER_NOT_YET_VALID = "member_not_yet_valid"
UNKNOWN_ORG = "unknown_org"
ORG_REMOVED = "org_removed"  # the member's organisation was removed by governance

# Reads ------------------------------------------------------------------------
UNKNOWN_TX = "unknown_tx"
UNKNOWN_BLOCK = "unknown_block"
NOT_FINAL = "not_final"  # committed here, but fewer than the quorum of signers have signed its block yet
BAD_REQUEST = "bad_request"


class TxRejected(Exception):
    """A transaction refused before ordering; it changed nothing."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ContractError(Exception):
    """Raised by a contract to fail the current transaction and discard its writes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
