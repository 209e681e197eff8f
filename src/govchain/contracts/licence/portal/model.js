/* The e-licence data model in the browser: a mirror of model.py and client.py for the pages
 * that issue, authorise and check (field hashes, data digest, holder commitment, holder DID,
 * disclosures, authorisations, bundles). Same domains, same canonical CBOR, same suite hash,
 * so the chain cannot tell these bytes from the Python client's; tests/web/test_sign_agreement.py
 * checks them against model.py. Values use GovSign's form: Uint8Array for bytes.
 */
(function (root) {
  "use strict";
  const S = root.GovSign;
  const utf8 = new TextEncoder();
  const DATA_DOMAIN = utf8.encode("govchain/licence-data/v1");
  const FIELD_DOMAIN = utf8.encode("govchain/licence-field/v1");
  const HOLDER_DOMAIN = utf8.encode("govchain/licence-holder/v1");
  const AUTH_DOMAIN = utf8.encode("govchain/licence-auth/v1");
  const DAY_MS = 24 * 3600 * 1000;
  const BUNDLE_VERSION = 1;

  function hash(suite, data) { return S.suite(suite).hash(data); }

  function fieldHash(suite, name, salt, value) { return hash(suite, S.concat(FIELD_DOMAIN, S.encode([salt, name, value]))); }
  function dataDigest(suite, fieldHashes) { return hash(suite, S.concat(DATA_DOMAIN, S.encode(fieldHashes))); }
  function saltedFields(suite, fields, salts) {
    return Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, fieldHash(suite, name, salts[name], value)]));
  }
  function fieldsDigest(suite, fields, saltsHex) {
    const salts = Object.fromEntries(Object.entries(saltsHex).map(([n, s]) => [n, S.fromHex(s)]));
    return dataDigest(suite, saltedFields(suite, fields, salts));
  }
  function holderCommitment(suite, salt, holderCode) { return hash(suite, S.concat(HOLDER_DOMAIN, S.encode([salt, holderCode]))); }
  function holderDid(suite, publicKey) { return "did:govchain:" + suite + ":" + S.toHex(hash(suite, publicKey).subarray(0, 20)); }

  /* The shown fields with their salts (hex), the others as hashes (hex): the JSON form of model.disclose. */
  function disclose(suite, fields, saltsHex, shown) {
    const out = { fields: {}, hashes: {} };
    for (const [name, value] of Object.entries(fields)) {
      if (shown.includes(name)) out.fields[name] = [saltsHex[name], value];
      else out.hashes[name] = S.toHex(fieldHash(suite, name, S.fromHex(saltsHex[name]), value));
    }
    return out;
  }

  /* model.check_disclosure on the JSON form: the shown fields, or an Error saying why not. */
  function checkDisclosure(suite, disclosure, digestHex) {
    if (!disclosure || typeof disclosure.fields !== "object" || typeof disclosure.hashes !== "object") {
      throw new S.SignError("disclosure_mismatch", "a disclosure has 'fields' {name: [salt, value]} and 'hashes' {name: hash}");
    }
    const hashes = {};
    for (const [name, h] of Object.entries(disclosure.hashes)) hashes[name] = S.fromHex(h);
    const shown = {};
    for (const [name, pair] of Object.entries(disclosure.fields)) {
      if (name in hashes) throw new S.SignError("disclosure_mismatch", "a field is both shown and hidden");
      hashes[name] = fieldHash(suite, name, S.fromHex(pair[0]), pair[1]);
      shown[name] = pair[1];
    }
    if (S.toHex(dataDigest(suite, hashes)) !== digestHex) {
      throw new S.SignError("disclosure_mismatch", "the disclosed fields do not match the licence's data digest on chain");
    }
    return shown;
  }

  function authorisationSigningInput(auth) { return S.concat(AUTH_DOMAIN, S.encode(auth)); }

  /* client.authorise: a signed authorisation and a disclosure of just the named fields, as the
   * JSON a holder hands over (client.presented_to_json: bytes in hex). */
  function authorise(holderKeys, bundle, relyingOrg, service, fields, validMs, oneTime, now) {
    const suite = holderKeys.suite;
    if (holderDid(suite, holderKeys.public) !== bundle.holder_did) throw new S.SignError("wrong_holder_key", "this key is not the one the licence was issued to");
    const missing = fields.filter((f) => !(f in bundle.fields));
    if (missing.length) throw new S.SignError("out_of_scope", "the licence has no fields " + missing.join(", "));
    if (!fields.length) throw new S.SignError("out_of_scope", "name at least one field");
    const start = now === undefined ? Date.now() : now;
    const sorted = fields.slice().sort();
    const auth = {
      chain: bundle.chain, licence: bundle.licence, relying_org: relyingOrg, service, fields: sorted,
      not_before: start - 60000, not_after: start + validMs, one_time: oneTime, nonce: S.randomBytes(16),
    };
    const sig = S.sign(holderKeys, authorisationSigningInput(auth));
    return { auth: Object.assign({}, auth, { nonce: S.toHex(auth.nonce) }), sig: S.toHex(sig), disclosure: disclose(suite, bundle.fields, bundle.salts, sorted) };
  }

  /* The `use` transaction's arguments from a handed-over authorisation (client.presented_from_json). */
  function useArgs(presented) {
    if (!presented || typeof presented.auth !== "object" || typeof presented.sig !== "string" || typeof presented.auth.nonce !== "string") {
      throw new S.SignError("bad_authorisation", "not a licence authorisation: expected {auth, sig, disclosure}");
    }
    return { auth: Object.assign({}, presented.auth, { nonce: S.fromHex(presented.auth.nonce) }), sig: S.fromHex(presented.sig) };
  }

  /* A version's data: fresh salts (hex, as in a bundle) and its data digest. */
  function versionData(suite, fields) {
    const salts = Object.fromEntries(Object.keys(fields).map((n) => [n, S.toHex(S.randomBytes(16))]));
    return { salts, digest: fieldsDigest(suite, fields, salts) };
  }

  /* The bundle's copy of the licence file (base64) and its digest (client._file_entries). */
  function fileEntries(suite, pdf) { return pdf ? { file: toBase64(pdf), file_digest: S.toHex(hash(suite, pdf)) } : {}; }

  /* What client.issue signs: the salts, digest and holder commitment, and the `issue` arguments. */
  function prepareIssue(suite, kind, typeCode, fields, holderCode, holderKey, validUntil, now) {
    const { salts, digest } = versionData(suite, fields);
    const holderSalt = S.randomBytes(16);
    const start = now === undefined ? Date.now() : now;
    const args = {
      type: typeCode,
      holder_commitment: holderCommitment(suite, holderSalt, holderCode),
      holder_key: holderKey,
      data_digest: digest,
      file_digest: digest,
      valid_from: start,
      valid_until: validUntil || kind.validity_days === null ? validUntil || null : start + kind.validity_days * DAY_MS,
    };
    /* With the licence file (its bytes), the bundle carries it as client._file_entries does. */
    const bundle = (chain, id, version, tx, pdf) => Object.assign({
      v: BUNDLE_VERSION, chain, licence: id, version, type: typeCode, fields,
      salts,
      holder_code: holderCode, holder_salt: S.toHex(holderSalt), holder_did: holderDid(suite, holderKey),
      data_digest: S.toHex(digest), tx,
    }, fileEntries(suite, pdf));
    return { args, salts, bundle };
  }

  // --- the licence file (render.py makes it; here it is only hashed and checked) -----------

  function toBase64(bytes) {
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(text);
  }
  function fromBase64(text) { return Uint8Array.from(atob(text), (c) => c.charCodeAt(0)); }

  /* render.file_claim: the licence a rendered file names in its metadata, or null. */
  const CLAIM = /\/Keywords \(govchain-licence; id=([A-Za-z0-9._-]+); version=([0-9]+); chain=([A-Za-z0-9._:-]+); data=([0-9a-f]{64})\)/;
  function fileClaim(bytes) {
    const found = CLAIM.exec(new TextDecoder("latin1").decode(bytes));
    return found ? { licence: found[1], version: Number(found[2]), chain: found[3], data_digest: found[4] } : null;
  }

  /* filecheck.check_file, with the file hashed here: only its digest leaves the browser.
   * `lookup(id, digestHex)` is the public status reply for that digest (GET /v1/licences/{id}?digest=).
   * {ok, code (the matched version's status, or file_unknown / wrong_chain / not_found / file_mismatch), licence, version, digest}. */
  async function checkFile(suite, chainId, bytes, licence, lookup) {
    const digest = S.toHex(hash(suite, bytes));
    const claim = fileClaim(bytes);
    if (!licence) {
      if (!claim) return { ok: false, code: "file_unknown", licence: null, version: null, digest };
      if (claim.chain !== chainId) return { ok: false, code: "wrong_chain", licence: claim.licence, version: null, digest };
      licence = claim.licence;
    }
    let found;
    try { found = await lookup(licence, digest); } catch (err) { return { ok: false, code: "not_found", licence, version: null, digest }; }
    const files = (found.matches || []).filter((m) => m.as === "file");
    if (!files.length) return { ok: false, code: "file_mismatch", licence, version: null, digest };
    const match = files[files.length - 1];
    return { ok: match.status === "valid", code: match.status, licence, version: match.version, digest };
  }

  root.GovLicence = {
    DAY_MS, fieldHash, dataDigest, saltedFields, fieldsDigest, holderCommitment, holderDid,
    disclose, checkDisclosure, authorisationSigningInput, authorise, useArgs, prepareIssue,
    versionData, fileEntries, toBase64, fromBase64, fileClaim, checkFile, hash,
  };
})(typeof window !== "undefined" ? window : globalThis);
