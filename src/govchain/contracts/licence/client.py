"""E-licences from Python: what issuers, holders and relying parties do, over a govchain `Client`.

- An issuer validates the licence data against its type's JSON Schema, salts and
  hashes each field, commits to the holder's identifier, and signs `licence.issue`.
  The result is a *licence bundle*: the data, the salts and the holder's secrets,
  to deliver to the holder. It holds personal data: it never goes on chain.
- A holder signs an authorisation for one relying party, service item, set of
  fields and time window, and hands it over with a disclosure of just those fields.
- A relying party records the use on chain (`licence.use`), then checks the
  disclosed fields against the licence's data digest on chain.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jsonschema

from govchain.contracts.licence.contract import ISSUER_NOT_ALLOWED, SEQUENCE_TAKEN
from govchain.contracts.licence.filecheck import FileVerdict, check_file
from govchain.contracts.licence.model import (
    DAY_MS,
    LicenceType,
    check_disclosure,
    data_digest,
    disclose,
    holder_commitment,
    holder_did,
    licence_id,
    parse_type,
    salted_fields,
    sign_authorisation,
)
from govchain.contracts.licence.render import LicenceSheet, render_licence
from govchain.contracts.licence.vc import VcVerdict, licence_credential, verify_credential
from govchain.crypto import KeyPair, Suite
from govchain.ledger import errors
from govchain.ledger.requests import sign_request
from govchain.sdk.client import Client, SdkError, Submitted

SCHEMA_INVALID = "schema_invalid"
SEQUENCE_ATTEMPTS = 8
BUNDLE_VERSION = 1


@dataclass
class LicenceClient:
    client: Client
    portal: str | None = None  # the portal address a licence file's QR code opens (default: the node's)

    @property
    def suite(self) -> Suite:
        return self.client.chain.suite

    # --- catalogue -----------------------------------------------------------------

    def types(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.client.get("/v1/licences/types")["types"]
        return result

    def licence_type(self, code: str) -> LicenceType:
        doc = self.client.get(f"/v1/licences/types/{code}")
        if "unusable" in doc:
            raise SdkError("licence_type_invalid", doc["unusable"])
        return parse_type(code, {k: v for k, v in doc.items() if k != "code"})

    # --- issuer --------------------------------------------------------------------

    def issue(
        self,
        type_code: str,
        fields: dict[str, Any],
        holder_code: str,
        holder_key: bytes,
        valid_from: int | None = None,
        valid_until: int | None = None,
        file_bytes: bytes | None = None,
        deposit: bool = True,
        render: bool = True,
    ) -> dict[str, Any]:
        """Issue a licence; returns the bundle to deliver to the holder (it holds personal data).

        Without `valid_until`, the licence is valid for as long as its type allows.

        With `render` (and no `file_bytes` of its own), the licence file is rendered (a PDF
        with the licence id and its QR code) and its digest goes on chain in the same
        transaction: the client picks the next free sequence, renders the file for that id,
        and issues with that sequence, trying the next one if another issue took it first.
        The bundle carries the file (`file`, base64).

        With `deposit`, the bundle is also kept, encrypted, in this node's private store, from
        which relying parties fetch the fields a holder authorises them to see.
        """
        kind = self.licence_type(type_code)
        check_fields(kind, fields)
        suite = self.suite
        salts = {name: secrets.token_bytes(16) for name in fields}
        digest = data_digest(suite, salted_fields(suite, fields, salts))
        holder_salt = secrets.token_bytes(16)
        now = int(time.time() * 1000)
        args = {
            "type": type_code,
            "holder_commitment": holder_commitment(suite, holder_salt, holder_code),
            "holder_key": holder_key,
            "data_digest": digest,
            "file_digest": suite.hash(file_bytes) if file_bytes is not None else digest,
            "valid_from": now if valid_from is None else valid_from,
            "valid_until": valid_until
            if valid_until or kind.validity_days is None
            else now + kind.validity_days * DAY_MS,
        }
        if render and file_bytes is None:
            file_bytes, done = self._issue_rendered(kind, fields, args)
        else:
            done = self.client.call("licence", "issue", args)
        result = self.client.tx(done.tx_id)["result"]["data"]
        bundle = {
            "v": BUNDLE_VERSION,
            "chain": self.client.chain.chain_id,
            "licence": result["id"],
            "version": result["version"],
            "type": type_code,
            "fields": fields,
            "salts": {name: salt.hex() for name, salt in salts.items()},
            "holder_code": holder_code,
            "holder_salt": holder_salt.hex(),
            "holder_did": holder_did(suite, holder_key),
            "data_digest": digest.hex(),
            "tx": done.tx_id.hex(),
        } | _file_entries(suite, file_bytes)
        if deposit:
            self.deposit(bundle)
        return bundle

    def _issue_rendered(
        self, kind: LicenceType, fields: dict[str, Any], args: dict[str, Any]
    ) -> tuple[bytes, Submitted]:
        org = self.issuer_org(kind)
        tried = 0
        for _ in range(SEQUENCE_ATTEMPTS):
            sequence = max(self.next_sequence(kind.code, org), tried + 1)
            sheet = self._sheet(kind, licence_id(kind.code, org, sequence), 1, fields, args, org)
            pdf = render_licence(sheet)
            try:
                done = self.client.call(
                    "licence", "issue", args | {"sequence": sequence, "file_digest": self.suite.hash(pdf)}
                )
            except SdkError as exc:
                if exc.code != SEQUENCE_TAKEN:
                    raise
                tried = sequence
                continue
            return pdf, done
        raise SdkError(SEQUENCE_TAKEN, f"{SEQUENCE_ATTEMPTS} sequences in a row were taken: try again")

    def _sheet(
        self,
        kind: LicenceType,
        licence: str,
        version: int,
        fields: dict[str, Any],
        validity: dict[str, Any],
        org: str,
    ) -> LicenceSheet:
        names = {o["id"]: o["name_zh"] for o in self.client.orgs()}
        return LicenceSheet(
            kind=kind,
            licence=licence,
            version=version,
            org=org,
            org_name=names.get(org, ""),
            valid_from=validity["valid_from"],
            valid_until=validity["valid_until"],
            fields=fields,
            data_digest=validity["data_digest"],
            chain=self.client.chain.chain_id,
            check_base=self.portal or self.client.url,
        )

    def issuer_org(self, kind: LicenceType) -> str:
        """The organisation of this client's key, among those that may issue `kind` (its id names it)."""
        if self.client.key is None:
            raise SdkError("no_key", "issuing needs the issuer's key")
        mine = self.client.key.public.hex()
        for org in sorted(kind.issuers):
            if any(member["key"] == mine for member in self.client.members(org)):
                return org
        raise SdkError(
            ISSUER_NOT_ALLOWED,
            f"this key is not a member of an organisation that may issue {kind.code} licences",
        )

    def next_sequence(self, type_code: str, org: str) -> int:
        """The sequence the chain would assign now to the next licence of this type from `org`."""
        reply = self.client.get(f"/v1/licences/types/{type_code}/next-sequence", org=org)
        return int(reply["sequence"])

    def deposit(self, bundle: dict[str, Any]) -> None:
        """Keep a licence's bundle in this node's private store (encrypted at rest; never on chain)."""
        self._signed_post(f"/v1/licences/{bundle['licence']}/private", "licence/deposit", {"bundle": bundle})

    def fetch(self, licence: str, use_tx: bytes) -> dict[str, Any]:
        """As a relying party, after `use`: the authorised fields from the issuing node's private
        store, checked against the licence's data digest on chain."""
        reply = self._signed_post(f"/v1/licences/{licence}/fetch", "licence/fetch", {"use": use_tx})
        status = self.status(licence, version=reply["version"])
        try:
            fields = check_disclosure(
                self.suite, _disclosure_from_json(reply["disclosure"]), bytes.fromhex(status["data_digest"])
            )
        except (ValueError, KeyError) as exc:
            raise SdkError("disclosure_mismatch", str(exc)) from None
        return {
            "licence": licence,
            "version": reply["version"],
            "service": reply["service"],
            "fields": fields,
        }

    def _signed_post(self, path: str, purpose: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.client.key is None:
            raise SdkError("no_key", "this request must be signed: the client has no key")
        request = {
            "purpose": purpose,
            "chain": self.client.chain.chain_id,
            "t": int(time.time() * 1000),
        } | body
        result: dict[str, Any] = self.client.post_json(
            path, sign_request(self.suite, self.client.key, request)
        )
        return result

    def change(
        self, bundle: dict[str, Any], fields: dict[str, Any], reason: str, deposit: bool = True
    ) -> dict[str, Any]:
        """变更: new data as a new version that supersedes the old; returns the holder's new bundle,
        with the new version's rendered file (also deposited in this node's private store)."""
        return self._new_version("change", bundle, fields, reason, {}, deposit)

    def renew(
        self,
        bundle: dict[str, Any],
        valid_until: int,
        reason: str,
        fields: dict[str, Any] | None = None,
        deposit: bool = True,
    ) -> dict[str, Any]:
        """延续/换证: a new validity (and optionally new data) as a new version, with its rendered file;
        returns the holder's new bundle (also deposited in this node's private store)."""
        extra = {"valid_until": valid_until}
        return self._new_version("renew", bundle, fields or bundle["fields"], reason, extra, deposit)

    def _new_version(
        self,
        operation: str,
        bundle: dict[str, Any],
        fields: dict[str, Any],
        reason: str,
        extra: dict[str, Any],
        deposit: bool,
    ) -> dict[str, Any]:
        """Render version current + 1 and make it, naming that version (`conflict` if another came first)."""
        kind = self.licence_type(bundle["type"])
        check_fields(kind, fields)
        suite = self.suite
        salts = {name: secrets.token_bytes(16) for name in fields}
        digest = data_digest(suite, salted_fields(suite, fields, salts))
        current = self.status(bundle["licence"])
        if bundle["version"] != current["version"]:
            raise SdkError(
                errors.CONFLICT,
                f"the bundle is version {bundle['version']} but {bundle['licence']} is at "
                f"version {current['version']}: start from the current bundle",
            )
        validity = {
            "data_digest": digest,
            # renew starts the new validity at its block's time: the file shows the day
            "valid_from": int(time.time() * 1000) if operation == "renew" else current["valid_from"],
            "valid_until": extra.get("valid_until", current["valid_until"]),
        }
        version = current["version"] + 1
        pdf = render_licence(self._sheet(kind, bundle["licence"], version, fields, validity, current["org"]))
        result = self.transition(
            operation, bundle["licence"], reason,
            data_digest=digest, file_digest=suite.hash(pdf), version=version, **extra,
        )  # fmt: skip
        new = bundle | _file_entries(suite, pdf)
        new |= {
            "version": result["version"],
            "fields": fields,
            "salts": {name: salt.hex() for name, salt in salts.items()},
            "data_digest": digest.hex(),
        }
        if deposit:
            self.deposit(new)
        return new

    def transition(self, operation: str, licence: str, reason: str, **extra: Any) -> dict[str, Any]:
        """change / renew / suspend / resume / revoke / cancel, with a reason (on chain)."""
        done = self.client.call("licence", operation, {"id": licence, "reason": reason, **extra})
        result: dict[str, Any] = self.client.tx(done.tx_id)["result"]["data"]
        return result

    # --- holder --------------------------------------------------------------------

    def authorise(
        self,
        holder: KeyPair,
        bundle: dict[str, Any],
        relying_org: str,
        service: str,
        fields: list[str],
        valid_ms: int = 24 * 3600 * 1000,
        one_time: bool = True,
    ) -> dict[str, Any]:
        """A signed authorisation plus a disclosure of the named fields, for the relying party."""
        return authorise(self.suite, holder, bundle, relying_org, service, fields, valid_ms, one_time)

    # --- relying party and everyone ------------------------------------------------

    def use(self, presented: dict[str, Any]) -> dict[str, Any]:
        """Record the use on chain (refused if the authorisation or licence is not good), then
        return the disclosed fields, checked against the licence's data digest on chain."""
        auth = presented["auth"]
        done = self.client.call("licence", "use", {"auth": auth, "sig": presented["sig"]})
        status = self.status(auth["licence"])
        try:
            shown = check_disclosure(
                self.suite,
                _disclosure_from_json(presented["disclosure"]),
                bytes.fromhex(status["data_digest"]),
            )
        except (ValueError, KeyError) as exc:
            raise SdkError("disclosure_mismatch", str(exc)) from None
        return {
            "licence": auth["licence"],
            "version": status["version"],
            "fields": shown,
            "tx": done.tx_id.hex(),
        }

    def status(self, licence: str, version: int | None = None, digest: bytes | None = None) -> dict[str, Any]:
        hex_digest = None if digest is None else digest.hex()
        result: dict[str, Any] = self.client.get(
            f"/v1/licences/{licence}", version=version, digest=hex_digest
        )
        return result

    def verify_file(self, pdf: bytes, licence: str | None = None) -> FileVerdict:
        """Check a licence file against the chain (hashed here: the file is not sent): which version
        of which licence it is, and that version's status; `file_unknown` or `file_mismatch` if none."""

        def lookup(lid: str, digest: str) -> dict[str, Any]:
            try:
                result: dict[str, Any] = self.client.get(f"/v1/licences/{lid}", digest=digest)
            except SdkError as exc:
                if exc.code in (errors.NOT_FOUND, errors.INVALID_ARGS):
                    raise LookupError(exc.message) from None
                raise
            return result

        return check_file(self.suite, self.client.chain.chain_id, pdf, licence, lookup)

    def history(self, licence: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.client.get(f"/v1/licences/{licence}/history")["events"]
        return result

    def export_vc(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """The licence as a W3C VC 2.0 credential, signed with this client's (the issuer's) key."""
        if self.client.key is None:
            raise SdkError("no_key", "exporting a credential needs the issuer's key")
        status = self.status(bundle["licence"])
        if bytes.fromhex(status["issuer"]) != self.client.key.public:
            raise SdkError(errors.FORBIDDEN, "only the key that issued the licence signs its credential")
        base = f"{self.client.url}/v1/licences/status-lists"
        now = int(time.time() * 1000)
        try:
            return licence_credential(self.suite, self.client.key, bundle, status, base, now)
        except ValueError as exc:
            raise SdkError("stale_bundle", str(exc)) from None

    def verify_vc(self, vc: dict[str, Any]) -> VcVerdict:
        """Check a licence credential against the chain (proof, issuer, validity, status, schema, digest)."""
        try:
            subject = vc["credentialSubject"]
            status = self.status(subject["licence"], version=int(subject["version"]))
            schema = self.licence_type(subject["licenceType"]).schema
        except (KeyError, TypeError, ValueError) as exc:
            raise SdkError(errors.MALFORMED, f"not a govchain licence credential: {exc}") from None
        peers = {bytes.fromhex(k) for org in self.client.orgs() for k in org["peers"]}
        peers |= {bytes.fromhex(k) for k in self.client.get("/v1/chain")["signers"]}

        def fetch(url: str) -> dict[str, Any]:
            # The list is chain state, the same on every peer: ask our own node for that path.
            path = "/v1/licences/status-lists/" + url.rstrip("/").rsplit("/", 1)[-1]
            result: dict[str, Any] = self.client.get(path)
            return result

        return verify_credential(self.suite, vc, int(time.time() * 1000), status, schema, peers, fetch)

    def uses(self, org: str, purpose: str, licence: str | None = None) -> list[dict[str, Any]]:
        """Recorded uses of an organisation's licences (restricted: that organisation, or regulators)."""
        args: dict[str, Any] = {"org": org} | ({"id": licence} if licence else {})
        result: list[dict[str, Any]] = self.client.read("licence", "uses", args, purpose)
        return result

    def personal(self, licence: str, org: str, purpose: str) -> dict[str, Any]:
        """The licence's full data from the issuing node's private store; the read is recorded on chain
        (the issuing organisation's issuers, admins and auditors, or a regulator)."""
        result: dict[str, Any] = self.client.read("licence", "personal", {"id": licence, "org": org}, purpose)
        return result

    def stats(self, purpose: str, org: str | None = None) -> list[dict[str, Any]]:
        """Operation counts per organisation, type, operation and day (regulators, auditors)."""
        result: list[dict[str, Any]] = self.client.read(
            "licence", "stats", {"org": org} if org else {}, purpose
        )
        return result


def _file_entries(suite: Suite, pdf: bytes | None) -> dict[str, str]:
    """The bundle's copy of the licence file (base64) and its digest, if it has one."""
    if pdf is None:
        return {}
    return {"file": base64.b64encode(pdf).decode(), "file_digest": suite.hash(pdf).hex()}


def bundle_file(bundle: dict[str, Any]) -> bytes | None:
    """The licence file a bundle carries, if any."""
    value = bundle.get("file")
    return None if value is None else base64.b64decode(value)


def check_fields(kind: LicenceType, fields: dict[str, Any]) -> None:
    """The licence data against its type's JSON Schema; SdkError(schema_invalid) names the problem."""
    try:
        jsonschema.validate(fields, kind.schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(the data)"
        raise SdkError(SCHEMA_INVALID, f"{where}: {exc.message}") from None
    unknown = sorted(set(fields) - kind.fields)
    if unknown:
        raise SdkError(SCHEMA_INVALID, f"fields not in the {kind.code} schema: {unknown}")
    if _has_float(fields):
        raise SdkError(SCHEMA_INVALID, "numbers must be integers (write decimals as text)")


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def authorise(
    suite: Suite,
    holder: KeyPair,
    bundle: dict[str, Any],
    relying_org: str,
    service: str,
    fields: list[str],
    valid_ms: int,
    one_time: bool,
    now: int | None = None,
) -> dict[str, Any]:
    """The holder's side, offline: sign an authorisation and disclose exactly the named fields."""
    if holder_did(suite, holder.public) != bundle["holder_did"]:
        raise SdkError("wrong_holder_key", "this key is not the one the licence was issued to")
    missing = sorted(set(fields) - set(bundle["fields"]))
    if missing:
        raise SdkError("out_of_scope", f"the licence has no fields {missing}")
    start = int(time.time() * 1000) if now is None else now
    auth = {
        "chain": bundle["chain"],
        "licence": bundle["licence"],
        "relying_org": relying_org,
        "service": service,
        "fields": sorted(fields),
        "not_before": start - 60_000,  # a minute's grace for clocks
        "not_after": start + valid_ms,
        "one_time": one_time,
        "nonce": secrets.token_bytes(16),
    }
    salts = {name: bytes.fromhex(salt) for name, salt in bundle["salts"].items()}
    disclosure = disclose(suite, bundle["fields"], salts, sorted(fields))
    return {
        "auth": auth,
        "sig": sign_authorisation(suite, holder.private, auth),
        "disclosure": {
            "fields": {name: [salt.hex(), value] for name, (salt, value) in disclosure["fields"].items()},
            "hashes": {name: h.hex() for name, h in disclosure["hashes"].items()},
        },
    }


def _disclosure_from_json(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "fields": {name: [bytes.fromhex(salt), v] for name, (salt, v) in value["fields"].items()},
        "hashes": {name: bytes.fromhex(h) for name, h in value["hashes"].items()},
    }


def presented_to_json(presented: dict[str, Any]) -> dict[str, Any]:
    """An authorisation as a JSON file (bytes as hex) for handing over."""
    auth = dict(presented["auth"], nonce=presented["auth"]["nonce"].hex())
    return {"auth": auth, "sig": presented["sig"].hex(), "disclosure": presented["disclosure"]}


def presented_from_json(value: dict[str, Any]) -> dict[str, Any]:
    auth = dict(value["auth"], nonce=bytes.fromhex(value["auth"]["nonce"]))
    return {"auth": auth, "sig": bytes.fromhex(value["sig"]), "disclosure": value["disclosure"]}
