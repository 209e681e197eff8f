"""The Python SDK: hold a key, build and sign transactions, submit, wait, fetch and verify receipts.

    client = Client("http://127.0.0.1:8760", key=KeyFile.load(path).keys)
    outcome = client.notarize_file("contract.pdf")   # waits for commit
    receipt = client.receipt(outcome.tx_id, digest=outcome.digest)
    assert client.verify(receipt, Path("contract.pdf").read_bytes()).ok

Receipts are verified against the genesis hash this client saw when it first
connected (`pin`), so a node cannot swap in another chain later.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from govchain import codec
from govchain.crypto import KeyPair, Suite, get_suite
from govchain.ledger import errors
from govchain.ledger.transactions import SignedTx, make_tx
from govchain.verify.receipt import Verdict, verify_receipt

DEFAULT_NODE = "http://127.0.0.1:8760"
DEFAULT_TTL_MS = 10 * 60 * 1000
HASH_CHUNK = 1 << 20


class SdkError(Exception):
    """A refusal or failure, with the node's machine-readable code."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class ChainInfo:
    chain_id: str
    suite: Suite
    genesis_hash: bytes
    genesis: bytes


RETRY_FOR_S = 30.0  # how long a submission refused as `overloaded` is retried
RETRY_FIRST_PAUSE_S = 0.25
RETRY_MAX_PAUSE_S = 4.0


@dataclass(frozen=True, slots=True)
class Submitted:
    """What became of one transaction: committed (with height and result code) or not."""

    tx_id: bytes
    status: str  # committed | accepted (not yet committed) | rejected
    code: str = ""
    message: str = ""
    height: int | None = None
    digest: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.status == "committed" and self.code == "ok"


def hash_file(suite: Suite, path: Path) -> bytes:
    """The suite's digest of a file, read in chunks so large files need little memory."""
    hasher = suite.hasher()
    with path.open("rb") as f:
        while chunk := f.read(HASH_CHUNK):
            hasher.update(chunk)
    return hasher.digest()


class Client:
    def __init__(self, url: str = DEFAULT_NODE, key: KeyPair | None = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self._http = httpx.Client(base_url=self.url, timeout=timeout)
        self._chain: ChainInfo | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SdkError(
                "unreachable",
                f"cannot reach the node at {self.url} ({exc}); start one with `govchain up`, "
                "or point --node / GOVCHAIN_NODE at a running node",
            ) from None
        if response.status_code >= 400:
            try:
                err = response.json()["error"]
                raise SdkError(err["code"], err["message"], response.status_code)
            except (ValueError, KeyError, TypeError):
                raise SdkError("http_error", f"HTTP {response.status_code}", response.status_code) from None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        """GET a route of the node's API (for module clients); SdkError carries the reason code."""
        return self._request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post_json(self, path: str, body: dict[str, Any]) -> Any:
        """POST JSON to a route of the node's API (for module clients)."""
        return self._request("POST", path, json=body)

    @property
    def chain(self) -> ChainInfo:
        """The chain this client talks to, fetched once and then pinned."""
        if self._chain is None:
            info = self._request("GET", "/v1/chain")
            self._chain = ChainInfo(
                info["chain_id"],
                get_suite(info["suite"]),
                bytes.fromhex(info["genesis_hash"]),
                bytes.fromhex(info["genesis"]),
            )
        return self._chain

    # --- writes ---------------------------------------------------------------------

    def sign(
        self, contract: str, method: str, args: dict[str, Any], ttl_ms: int = DEFAULT_TTL_MS
    ) -> SignedTx:
        if self.key is None:
            raise SdkError("no_key", "this client has no key to sign with")
        chain = self.chain
        expiry = int(time.time() * 1000) + ttl_ms
        return make_tx(chain.suite, self.key, chain.chain_id, contract, method, args, expiry)

    def submit(self, tx: SignedTx, wait: bool = True, timeout: float = 30.0) -> Submitted:
        (result,) = self.submit_many([tx], wait=wait, timeout=timeout)
        return result

    def submit_many(
        self,
        txs: Sequence[SignedTx],
        wait: bool = True,
        timeout: float = 30.0,
        retry_for: float = RETRY_FOR_S,
    ) -> list[Submitted]:
        """Submit in one request; each transaction gets its own outcome.

        Transactions the node refused as `overloaded` (its queue was full, or the ordering
        service did not acknowledge them, e.g. while a nats-server fails over) are sent again,
        the same signed bytes, with growing pauses for up to `retry_for` seconds. That cannot
        commit one twice: the chain drops a transaction id it has seen as `replayed`. One
        ordered after all (only its acknowledgement was lost) comes back as `replayed`, and is
        then reported as the committed transaction it is.
        """
        results = self._submit_once(txs, wait, timeout)
        deadline = time.monotonic() + retry_for
        pause = RETRY_FIRST_PAUSE_S
        while True:
            again = [i for i, r in enumerate(results) if r.code == errors.OVERLOADED]
            if not again or time.monotonic() + pause > deadline:
                return results
            time.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_PAUSE_S)
            retried = self._submit_once([txs[i] for i in again], wait, timeout)
            for i, result in zip(again, retried, strict=True):
                results[i] = self._committed_meanwhile(result) if result.code == errors.REPLAYED else result

    def _committed_meanwhile(self, result: Submitted) -> Submitted:
        """A retried transaction refused as replayed: the earlier attempt was ordered after all."""
        try:
            found = self._request("GET", f"/v1/txs/{result.tx_id.hex()}")
        except SdkError:
            return result
        outcome = found["result"]
        return Submitted(result.tx_id, "committed", outcome["code"], outcome["message"], found["height"])

    def _submit_once(self, txs: Sequence[SignedTx], wait: bool, timeout: float) -> list[Submitted]:
        reply = self._request(
            "POST",
            "/v1/txs/batch",
            params={"wait": str(wait).lower(), "timeout": timeout},
            content=codec.encode([tx.raw for tx in txs]),
            headers={"content-type": "application/cbor"},
        )
        out = []
        for tx, item in zip(txs, reply["results"], strict=True):
            out.append(
                Submitted(
                    tx_id=tx.id,
                    status=item["status"],
                    code=item.get("code", ""),
                    message=item.get("message", ""),
                    height=item.get("height"),
                )
            )
        return out

    def call(self, contract: str, method: str, args: dict[str, Any], wait: bool = True) -> Submitted:
        """Sign and submit one transaction, raising SdkError unless it committed successfully."""
        result = self.submit(self.sign(contract, method, args), wait=wait)
        if result.status == "rejected" or (result.status == "committed" and result.code != "ok"):
            raise SdkError(result.code, result.message or "transaction failed")
        return result

    def notarize_digest(self, digest: bytes, meta: dict[str, Any] | None = None) -> Submitted:
        result = self.call("notary", "anchor", {"digest": digest, "meta": meta or {}})
        return Submitted(result.tx_id, result.status, result.code, result.message, result.height, digest)

    def notarize_file(self, path: str | Path, meta: dict[str, Any] | None = None) -> Submitted:
        p = Path(path)
        info = {"name": p.name, "size": p.stat().st_size} | (meta or {})
        return self.notarize_digest(hash_file(self.chain.suite, p), info)

    def notarize_batch(self, digests: list[bytes], meta: dict[str, Any] | None = None) -> Submitted:
        return self.call("notary", "anchor_batch", {"digests": digests, "meta": meta or {}})

    # --- reads ----------------------------------------------------------------------

    def read(
        self,
        contract: str,
        query: str,
        args: dict[str, Any] | None = None,
        purpose: str = "",
        timeout: float = 30.0,
    ) -> Any:
        """Read restricted data. Signs an `audit.read` that the chain records, then returns the data.

        Raises SdkError with the reason (`forbidden`, `unknown_query`, ...) if the read is refused.
        """
        body = {"contract": contract, "query": query, "args": args or {}, "purpose": purpose}
        tx = self.sign("audit", "read", body)
        reply = self._request(
            "POST",
            "/v1/reads",
            params={"timeout": timeout},
            content=tx.raw,
            headers={"content-type": "application/cbor"},
        )
        return reply["data"]

    def access_log(self, purpose: str, org: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Recorded restricted reads, newest first (regulators and auditors; this read is recorded too)."""
        args: dict[str, Any] = {"limit": limit} | ({"org": org} if org else {})
        result: list[dict[str, Any]] = self.read("audit", "access_log", args, purpose)
        return result

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/v1/status")
        return result

    def block(self, ref: int | str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/v1/blocks/{ref}")
        return result

    def tx(self, tx_id: bytes | str) -> dict[str, Any]:
        ref = tx_id.hex() if isinstance(tx_id, bytes) else tx_id
        result: dict[str, Any] = self._request("GET", f"/v1/txs/{ref}")
        return result

    def orgs(self) -> list[dict[str, Any]]:
        """The consortium's organisations in force (empty on a development chain)."""
        result: list[dict[str, Any]] = self._request("GET", "/v1/orgs")["orgs"]
        return result

    def members(self, org: str | None = None) -> list[dict[str, Any]]:
        """Enrolled members of a consortium chain (keys and certificates in hex)."""
        params = {"org": org} if org else {}
        result: list[dict[str, Any]] = self._request("GET", "/v1/members", params=params)["members"]
        return result

    def proposals(self) -> list[dict[str, Any]]:
        """Governance proposals with votes and status (open ones past expiry read `expired`)."""
        result: list[dict[str, Any]] = self._request("GET", "/v1/governance/proposals")["proposals"]
        return result

    def proposal(self, proposal_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/v1/governance/proposals/{proposal_id}")
        return result

    def read_policies(self) -> list[dict[str, Any]]:
        """Every restricted query with the read policy in force, its default and any governance override."""
        result: list[dict[str, Any]] = self._request("GET", "/v1/governance/read-policies")["read_policies"]
        return result

    def lookup(self, digest: bytes) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/v1/notary/documents/{digest.hex()}")
        return result

    def receipt(
        self, tx_id: bytes, digest: bytes | None = None, finality_timeout: float = 30.0
    ) -> dict[str, Any]:
        """The offline receipt; on a network, waits until the block is final (a quorum signed it)."""
        params = {"digest": digest.hex()} if digest else {}
        deadline = time.monotonic() + finality_timeout
        height: int | None = None
        while True:
            try:
                result: dict[str, Any] = self._request("GET", f"/v1/txs/{tx_id.hex()}/receipt", params=params)
                return result
            except SdkError as exc:
                if exc.code != "not_final" or time.monotonic() > deadline:
                    raise
            if height is None:
                height = int(self.tx(tx_id)["height"])
                if self.wait_final(height, deadline - time.monotonic()):
                    continue
            time.sleep(0.05)  # no finality events, or final but not yet stored: ask again shortly

    def wait_final(self, height: int, timeout: float = 30.0) -> bool:
        """Wait until the node reports block `height` final (a quorum of organisations signed it).

        Follows the node's pushed `final` events (`/v1/events/blocks`) rather than polling. True
        once final; False at the timeout, or at once if the node announces no finality.
        """
        deadline = time.monotonic() + timeout
        try:
            remaining = max(deadline - time.monotonic(), 0.001)
            with self._http.stream(
                "GET", "/v1/events/blocks", timeout=httpx.Timeout(10.0, read=remaining)
            ) as reply:
                if reply.status_code != 200:
                    return False
                # Subscribed before this read, so an announcement after it cannot be missed.
                final = self._final_height()
                if final is None:  # a node that announces no finality
                    return False
                if final >= height:
                    return True
                kind = ""
                for line in reply.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif (
                        kind == "final"
                        and line.startswith("data: ")
                        and int(json.loads(line[6:])["height"]) >= height
                    ):
                        return True
                    if time.monotonic() > deadline:
                        return False
        except httpx.TimeoutException:
            pass
        except (httpx.HTTPError, SdkError, ValueError, KeyError):
            return False
        try:
            final = self._final_height()
        except SdkError:
            return False
        return final is not None and final >= height

    def _final_height(self) -> int | None:
        """The node's final height, or None from a node that does not report one."""
        found = self.status().get("final_height")
        return None if found is None else int(found)

    def verify(self, receipt: dict[str, Any], file_bytes: bytes | None = None) -> Verdict:
        """Verify a receipt locally, pinned to this client's chain."""
        return verify_receipt(receipt, file_bytes, trusted_genesis=self.chain.genesis_hash)
