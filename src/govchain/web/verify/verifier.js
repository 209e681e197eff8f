/* The in-browser receipt verifier: a line-by-line mirror of src/govchain/verify/receipt.py.
 *
 * Same checks, same order, same failure classes (docs/protocol.md section 12.2):
 *   1. readable JSON of a known format and suite                    -> "unreadable"
 *   2. the genesis hashes to the stated chain; header and tx name it -> "wrong_chain"
 *   3. a quorum of the block's signers signed the header (the genesis
 *      signers, or the set reached through block.signer_changes,
 *      docs/protocol.md 6.5); sender signed                         -> "signature"
 *   4. the (tx id, result hash) leaf is in the block's log range; the
 *      result is "ok"; the document is what the tx anchored          -> "proof"
 *   5. the file's digest is the anchored digest                      -> "file_altered"
 * Hashes: SHA-256 through WebCrypto (intl), SM3 from sm-crypto (gm). Signatures: ECDSA
 * P-256 through WebCrypto (intl), SM2 from sm-crypto with the default ID
 * "1234567812345678" (gm). Where a browser has no WebCrypto (plain http to another
 * host), the vendored @noble/curves and @noble/hashes do the intl part. The file itself never reaches this code: only its digest.
 * Keep the structure parallel to receipt.py, so that a new receipt field (for example a
 * finality certificate) is added in the same place on both sides.
 */
(function (root) {
  "use strict";
  const Cbor = root.GovCbor;
  const RECEIPT_FORMAT = "govchain-receipt";
  const RECEIPT_VERSION = 1;
  const enc = new TextEncoder();
  const TX_DOMAIN = enc.encode("govchain-tx\u0000");
  const HEADER_DOMAIN = enc.encode("govchain-header\u0000");
  const LEAF = Uint8Array.of(0);
  const SIGNERS_KEY_PREFIX = enc.encode("governance/signers/");
  const PROVABLE_STATE_ROOT_PREFIX = Uint8Array.of(3);
  const SMT_LEAF = Uint8Array.of(0x10), SMT_NODE = Uint8Array.of(0x11);
  const NODE = Uint8Array.of(1);
  const SM2_ID = "1234567812345678";
  const SM2_ORDER = BigInt("0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123");

  const UNREADABLE = "unreadable", WRONG_CHAIN = "wrong_chain", SIGNATURE = "signature", PROOF = "proof", FILE_ALTERED = "file_altered";

  class ReceiptUnreadable extends Error {}
  class Fail extends Error { constructor(failure, message) { super(message); this.failure = failure; } }
  class CryptoUnavailable extends Error {}

  /* A JSON number written with a fraction or exponent: Python's json gives a float, never an int. */
  class JsonFloat {
    constructor(value) { this.value = value; }
    toString() { return Number.isInteger(this.value) ? this.value.toFixed(1) : String(this.value); }
  }

  // --- bytes ------------------------------------------------------------------------

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  const equalBytes = Cbor.equalBytes;
  function toHex(b) { return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(""); }
  function fromHex(s) { const out = new Uint8Array(s.length / 2); for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16); return out; }
  function isBytes(v) { return v instanceof Uint8Array; }

  // --- Python value semantics the reference relies on ---------------------------------

  function isDict(v) { return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof JsonFloat) && !(v instanceof Uint8Array) && !(v instanceof Map); }
  function isInt(v) { return (typeof v === "number" && Number.isInteger(v)) || typeof v === "bigint"; }
  function truthy(v) {
    if (v === null || v === undefined || v === false || v === 0 || v === 0n || v === "") return false;
    if (v instanceof JsonFloat) return v.value !== 0;
    if (Array.isArray(v)) return v.length > 0;
    if (v instanceof Map) return v.size > 0;
    if (v instanceof Uint8Array) return v.length > 0;
    if (isDict(v)) return Object.keys(v).length > 0;
    return true;
  }
  /* obj[key] on a parsed JSON object: KeyError/TypeError in Python, "unreadable" here. */
  function item(obj, key) {
    if (!isDict(obj) || !Object.prototype.hasOwnProperty.call(obj, key)) throw new ReceiptUnreadable("missing or malformed field: " + key);
    return obj[key];
  }
  /* obj.get(key) on a parsed JSON object (AttributeError if it is not one). */
  function get(obj, key) {
    if (!isDict(obj)) throw new ReceiptUnreadable("missing or malformed field: " + key);
    return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : null;
  }
  /* `for x in v` over a parsed JSON value. */
  function iter(v) {
    if (Array.isArray(v)) return v;
    if (typeof v === "string") return Array.from(v);
    if (isDict(v)) return Object.keys(v);
    throw new ReceiptUnreadable("missing or malformed field: not iterable");
  }
  /* Map.get for decoded CBOR maps, None when absent. */
  function mget(map, key) { return map.has(key) ? map.get(key) : null; }
  /* Python == between decoded CBOR (or JSON) values. */
  function pyEq(a, b) {
    const num = (v) => (typeof v === "boolean" ? BigInt(v ? 1 : 0) : isInt(v) ? BigInt(v) : null);
    const na = num(a), nb = num(b);
    if (na !== null || nb !== null) return na !== null && nb !== null && na === nb;
    if (a === null || a === undefined || b === null || b === undefined) return (a === null || a === undefined) && (b === null || b === undefined);
    if (isBytes(a) || isBytes(b)) return isBytes(a) && isBytes(b) && equalBytes(a, b);
    if (typeof a === "string" || typeof b === "string") return a === b;
    if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => pyEq(x, b[i]));
    if (a instanceof Map && b instanceof Map) {
      if (a.size !== b.size) return false;
      for (const [k, v] of a) if (!b.has(k) || !pyEq(v, b.get(k))) return false;
      return true;
    }
    return false;
  }

  // --- suites -------------------------------------------------------------------------

  /* WebCrypto when the browser offers it (https, localhost, a saved file); otherwise the
   * vendored @noble code, which computes the same SHA-256 and the same ECDSA P-256 check. */
  function subtle() {
    const s = root.crypto && root.crypto.subtle;
    return s || null;
  }

  function noble() {
    if (!root.GovNoble) throw new CryptoUnavailable("WebCrypto is not available here and the P-256 fallback did not load");
    return root.GovNoble;
  }

  function smLib() {
    if (!root.sm2 || !root.sm3) throw new CryptoUnavailable("the SM2/SM3 library did not load");
    return { sm2: root.sm2, sm3: root.sm3 };
  }

  function bigFrom(bytes) { return bytes.length ? BigInt("0x" + toHex(bytes)) : 0n; }

  const SUITES = {
    intl: {
      name: "intl",
      async hash(data) {
        const s = subtle();
        return s ? new Uint8Array(await s.digest("SHA-256", data)) : noble().sha256(data);
      },
      async verify(pub, msg, sig) {
        if (!isBytes(pub) || !isBytes(sig) || sig.length !== 64 || pub.length !== 65 || pub[0] !== 4) return false;
        const s = subtle();
        if (!s) {
          // High-S signatures are valid (docs/protocol.md 2.3), so lowS is off.
          try { return noble().p256.verify(sig, msg, pub, { lowS: false, prehash: true, format: "compact" }) === true; } catch (e) {
            if (e instanceof CryptoUnavailable) throw e;
            return false;
          }
        }
        let key;
        try { key = await s.importKey("raw", pub, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]); } catch (e) { return false; }
        try { return await s.verify({ name: "ECDSA", hash: "SHA-256" }, key, sig, msg); } catch (e) { return false; }
      },
    },
    gm: {
      name: "gm",
      async hash(data) { return fromHex(smLib().sm3(Array.from(data))); },
      async verify(pub, msg, sig) {
        if (!isBytes(pub) || !isBytes(sig) || sig.length !== 64 || pub.length !== 65 || pub[0] !== 4) return false;
        const r = bigFrom(sig.subarray(0, 32)), s = bigFrom(sig.subarray(32));
        if (!(r > 0n && r < SM2_ORDER && s > 0n && s < SM2_ORDER)) return false;
        const { sm2 } = smLib();
        try {
          return sm2.doVerifySignature(Array.from(msg), toHex(sig), toHex(pub), { der: false, hash: true, userId: SM2_ID }) === true;
        } catch (e) { return false; }
      },
    },
  };

  /* The streaming-free digest of a file's bytes, for the page (only the digest leaves). */
  async function hashFile(suiteName, data) { return SUITES[suiteName].hash(data); }

  // --- Merkle (src/govchain/merkle.py) -------------------------------------------------

  async function leafHash(h, data) { return h(concat(LEAF, data)); }

  async function verifyInclusion(h, leaf, index, treeSize, proof, root_) {
    if (!isInt(index) || !isInt(treeSize)) return false;
    let fn = BigInt(index), sn = BigInt(treeSize);
    if (!(0n <= fn && fn < sn)) return false;
    if (!isBytes(root_) || !isBytes(leaf) || leaf.length !== root_.length || !proof.every((p) => isBytes(p) && p.length === root_.length)) return false;
    sn -= 1n;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0n) return false; // proof longer than the path
      if ((fn & 1n) === 1n || fn === sn) {
        r = await h(concat(NODE, p, r));
        if ((fn & 1n) === 0n) { while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n; } }
      } else {
        r = await h(concat(NODE, r, p));
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n && equalBytes(r, root_);
  }

  // --- sparse Merkle tree, membership only (src/govchain/smt.py: verify) ---------------

  function smtBit(keyHash, depth) { return (keyHash[depth >> 3] >> (7 - (depth & 7))) & 1; }

  async function smtVerifyMember(h, rootHash, keyHash, valueHash, siblings) {
    if (siblings.length > 256 || keyHash.length !== 32) return false;
    let current = await h(concat(SMT_LEAF, keyHash, valueHash));
    for (let d = siblings.length - 1; d >= 0; d--) {
      current = smtBit(keyHash, d) === 0 ? await h(concat(SMT_NODE, current, siblings[d])) : await h(concat(SMT_NODE, siblings[d], current));
    }
    return equalBytes(current, rootHash);
  }

  // --- reading (receipt.py: _hex, _int, _cbor_map, load_receipt, _parse) --------------

  function hex(value, what, size) {
    if (typeof value !== "string" || value.length % 2 || !/^[0-9a-f]*$/.test(value)) throw new ReceiptUnreadable(what + " must be lowercase hex");
    const data = fromHex(value);
    if (size !== undefined && data.length !== size) throw new ReceiptUnreadable(what + " must be " + size + " bytes");
    return data;
  }

  function int(value, what) {
    if (!isInt(value) || value < 0) throw new ReceiptUnreadable(what + " must be a non-negative integer");
    return value;
  }

  function cborMap(data, what, version) {
    let value;
    try { value = Cbor.decode(data); } catch (e) { throw new ReceiptUnreadable(what + " is not canonical CBOR: " + e.message); }
    if (!(value instanceof Map)) throw new ReceiptUnreadable(what + " must be a CBOR map");
    if (version !== undefined && (!isInt(mget(value, "v")) || !pyEq(value.get("v"), version))) throw new ReceiptUnreadable(what + " is not version " + version);
    return value;
  }

  /* JSON as Python's json.loads reads it: an integer literal is an int (BigInt when large),
   * a literal with a fraction or exponent (or NaN/Infinity) is a float, which is never an int.
   * JSON.parse cannot tell 3 from 3.0 in every browser, so this small parser does. */
  function parseJson(text) {
    let i = 0;
    const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
    const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
    function fail(what) { throw new SyntaxError(what + " at position " + i); }
    function ws() { while (i < text.length && " \t\n\r".includes(text[i])) i++; }
    function literal(word, value) { if (text.startsWith(word, i)) { i += word.length; return { value }; } return null; }
    function string() {
      STRING.lastIndex = i;
      const m = STRING.exec(text);
      if (!m) fail("bad string");
      i += m[0].length;
      return JSON.parse(m[0]);
    }
    function value(depth) {
      if (depth > 500) fail("nesting too deep");
      ws();
      const c = text[i];
      if (c === "{") {
        i++;
        const obj = Object.create(null);
        ws();
        if (text[i] === "}") { i++; return obj; }
        for (;;) {
          ws();
          if (text[i] !== '"') fail("expected a key");
          const key = string();
          ws();
          if (text[i++] !== ":") fail("expected ':'");
          obj[key] = value(depth + 1);
          ws();
          const sep = text[i++];
          if (sep === "}") return obj;
          if (sep !== ",") fail("expected ',' or '}'");
        }
      }
      if (c === "[") {
        i++;
        const arr = [];
        ws();
        if (text[i] === "]") { i++; return arr; }
        for (;;) {
          arr.push(value(depth + 1));
          ws();
          const sep = text[i++];
          if (sep === "]") return arr;
          if (sep !== ",") fail("expected ',' or ']'");
        }
      }
      if (c === '"') return string();
      const word = literal("true", true) || literal("false", false) || literal("null", null) ||
        literal("NaN", new JsonFloat(NaN)) || literal("Infinity", new JsonFloat(Infinity)) || literal("-Infinity", new JsonFloat(-Infinity));
      if (word) return word.value;
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m || m[0] === "" || m[0] === "-") fail("unexpected character");
      i += m[0].length;
      if (m[1] === undefined && m[2] === undefined) {
        const big = BigInt(m[0]);
        return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
      }
      return new JsonFloat(Number(m[0]));
    }
    const out = value(0);
    ws();
    if (i !== text.length) fail("extra data");
    return out;
  }

  function loadReceipt(text) {
    let receipt;
    try { receipt = parseJson(text); } catch (e) { throw new ReceiptUnreadable("not JSON: " + e.message); }
    if (!isDict(receipt) || receipt.format !== RECEIPT_FORMAT) throw new ReceiptUnreadable("not a " + RECEIPT_FORMAT + " file");
    if (!isInt(receipt.version) || !pyEq(receipt.version, RECEIPT_VERSION)) throw new ReceiptUnreadable("receipt version " + String(receipt.version) + " is not supported (need " + RECEIPT_VERSION + ")");
    return receipt;
  }

  function parse(receipt) {
    const chain = item(receipt, "chain"), block = item(receipt, "block"), tx = item(receipt, "tx"), proof = item(receipt, "log_proof");
    const envelope = truthy(get(tx, "envelope")) ? hex(item(tx, "envelope"), "tx.envelope") : null;
    const document = get(receipt, "document");
    return {
      genesisBytes: hex(item(chain, "genesis"), "chain.genesis"),
      genesisHash: hex(item(chain, "genesis_hash"), "chain.genesis_hash", 32),
      headerBytes: hex(item(block, "header"), "block.header"),
      signerChanges: get(block, "signer_changes"),
      signatures: iter(item(block, "signatures")).map((s) => [hex(item(s, "key"), "signature key", 65), hex(item(s, "sig"), "signature", 64)]),
      txId: hex(item(tx, "id"), "tx.id", 32),
      envelope,
      resultBytes: hex(item(receipt, "result"), "result"),
      index: int(item(proof, "index"), "log_proof.index"),
      size: int(item(proof, "size"), "log_proof.size"),
      path: iter(item(proof, "path")).map((p) => hex(p, "log_proof.path", 32)),
      document: document === null ? null : {
        digest: hex(item(document, "digest"), "document.digest", 32),
        batchIndex: get(document, "batch_index"),
        batchPath: (truthy(get(document, "batch_path")) ? iter(get(document, "batch_path")) : []).map((p) => hex(p, "document.batch_path", 32)),
      },
    };
  }

  // --- checking (receipt.py: _check, _check_document) ---------------------------------

  async function check(suite, p, fileDigest, trustedGenesis) {
    const h = suite.hash;
    const genesis = cborMap(p.genesisBytes, "chain.genesis", 1);
    const header = cborMap(p.headerBytes, "block.header", 1);
    const result = cborMap(p.resultBytes, "result", 1);
    const signersList = mget(genesis, "signers");
    if (!Array.isArray(signersList) || signersList.some((k) => !isBytes(k) || k.length !== 65)) throw new ReceiptUnreadable("chain.genesis signers must be 65-byte public keys");
    for (const name of ["log_size", "tx_count", "height", "time"]) {
      if (!isInt(mget(header, name))) throw new ReceiptUnreadable("block.header field '" + name + "' must be an integer");
    }
    if (!isBytes(mget(header, "log_root"))) throw new ReceiptUnreadable("block.header field 'log_root' must be bytes");

    // 2. which chain
    if (!equalBytes(await h(p.genesisBytes), p.genesisHash)) throw new Fail(WRONG_CHAIN, "the genesis document does not hash to the stated chain identity");
    if (trustedGenesis !== null && !equalBytes(p.genesisHash, trustedGenesis)) throw new Fail(WRONG_CHAIN, "the receipt is from a different chain than the one you trust");
    if (!pyEq(mget(genesis, "suite"), suite.name)) throw new Fail(WRONG_CHAIN, "the receipt's suite is not the chain's suite");
    if (!pyEq(mget(header, "chain"), mget(genesis, "chain"))) throw new Fail(WRONG_CHAIN, "the block header names another chain");

    // 3. signatures: header quorum (of the block's signer set), then the sender's signature
    let signers = new Set(signersList.map(toHex));
    if (p.signerChanges !== null) signers = await followSignerChanges(suite, mget(genesis, "chain"), signers, p.signerChanges, header.get("height"));
    const good = await quorumSigned(suite, signers, p.headerBytes, p.signatures, "block header");
    let body = null;
    if (p.envelope !== null) {
      const envelope = cborMap(p.envelope, "tx.envelope");
      const bodyBytes = mget(envelope, "body");
      if (!isBytes(bodyBytes)) throw new ReceiptUnreadable("tx.envelope has no body");
      if (!equalBytes(await h(bodyBytes), p.txId)) throw new Fail(PROOF, "the transaction does not match its id");
      body = cborMap(bodyBytes, "tx.body");
      const sender = mget(body, "from"), sig = mget(envelope, "sig");
      if (!isBytes(sender) || !isBytes(sig) || !(await suite.verify(sender, concat(TX_DOMAIN, bodyBytes), sig))) throw new Fail(SIGNATURE, "the transaction's signature does not verify");
      if (!pyEq(mget(body, "chain"), mget(genesis, "chain"))) throw new Fail(WRONG_CHAIN, "the transaction names another chain");
    }

    // 4. proofs: the log, the result, the document
    const size = BigInt(p.size), index = BigInt(p.index);
    const logSize = BigInt(header.get("log_size")), txCount = BigInt(header.get("tx_count"));
    if (size !== logSize || !(size - txCount <= index && index < size)) throw new Fail(PROOF, "the log position is not inside the signed block");
    const leaf = await leafHash(h, concat(p.txId, await h(p.resultBytes)));
    if (!(await verifyInclusion(h, leaf, p.index, p.size, p.path, header.get("log_root")))) throw new Fail(PROOF, "the Merkle inclusion proof does not match the signed log root");
    if (!pyEq(mget(result, "code"), "ok")) throw new Fail(PROOF, "the transaction failed on chain (" + String(mget(result, "code")) + ")");
    const document = p.document;
    if (document !== null) await checkDocument(h, document, body, result);

    // 5. the file itself
    if (fileDigest !== null) {
      if (document === null) throw new ReceiptUnreadable("this receipt anchors no document, so there is no file to compare");
      if (!equalBytes(fileDigest, document.digest)) throw new Fail(FILE_ALTERED, "the file's digest differs from the anchored digest: the file was altered");
    }

    return {
      chain_id: mget(genesis, "chain"),
      genesis_hash: toHex(p.genesisHash),
      height: header.get("height"),
      time_ms: header.get("time"),
      tx_id: toHex(p.txId),
      signers: good.size,
      signer_keys: Array.from(good),
      digest: document === null ? null : toHex(document.digest),
    };
  }

  /* receipt.py: quorum_signed. `signers` holds hex keys; returns the hex keys whose signatures verified. */
  async function quorumSigned(suite, signers, headerBytes, signatures, what) {
    const quorum = Math.floor((signers.size * 2) / 3) + 1;
    const good = new Set();
    const message = concat(HEADER_DOMAIN, headerBytes);
    for (const [key, sig] of signatures) {
      const k = toHex(key);
      if (signers.has(k) && (await suite.verify(key, message, sig))) good.add(k);
    }
    if (good.size < quorum) throw new Fail(SIGNATURE, what + " has " + good.size + " valid signer signatures; " + quorum + " required");
    return good;
  }

  /* receipt.py: follow_signer_changes (docs/protocol.md 6.5). */
  async function followSignerChanges(suite, chain, genesisSigners, changes, height) {
    if (!Array.isArray(changes) || changes.length === 0) throw new ReceiptUnreadable("block.signer_changes must be a non-empty list");
    const h = suite.hash;
    let current = genesisSigners, last = 0n;
    for (let n = 1; n <= changes.length; n++) {
      const change = changes[n - 1];
      const what = "signer change " + n;
      const start = BigInt(int(item(change, "from"), what + " 'from'"));
      if (start >= 1n << 64n) throw new ReceiptUnreadable(what + " 'from' must fit in 8 bytes");
      const keys = iter(item(change, "signers")).map((k) => hex(k, what + " signers", 65));
      const blk = item(change, "block");
      const headerBytes = hex(item(blk, "header"), what + " header");
      const signatures = iter(item(blk, "signatures")).map((s) => [hex(item(s, "key"), "signature key", 65), hex(item(s, "sig"), "signature", 64)]);
      const state = item(change, "state");
      const parts = ["previous", "write_set", "provable_root"].map((k) => hex(item(state, k), what + " state", 32));
      const proof = item(change, "proof");
      const siblings = iter(item(proof, "siblings")).map((x) => hex(x, what + " proof", 32));
      const other = item(proof, "other_leaf");
      const header = cborMap(headerBytes, what + " header", 1);
      const at = mget(header, "height"), stateRoot = mget(header, "state_root");
      if (!isInt(at) || !isBytes(stateRoot) || other !== null) throw new ReceiptUnreadable(what + ": the header needs a height and state root, the proof a leaf");
      if (!pyEq(mget(header, "chain"), chain)) throw new Fail(WRONG_CHAIN, what + ": the header names another chain");
      const atBig = BigInt(at);
      if (!(last <= atBig && atBig < start)) throw new Fail(SIGNATURE, what + ": recorded at block " + atBig + ", not between the previous change (" + last + ") and " + start);
      const hexKeys = keys.map(toHex);
      const sorted = Array.from(new Set(hexKeys)).sort();
      if (hexKeys.length === 0 || hexKeys.length !== sorted.length || hexKeys.some((k, i) => k !== sorted[i])) throw new Fail(SIGNATURE, what + ": the new signer set is empty, unsorted or repeats a key");
      await quorumSigned(suite, current, headerBytes, signatures, what + " (block " + atBig + ")");
      if (!equalBytes(await h(concat(PROVABLE_STATE_ROOT_PREFIX, ...parts)), stateRoot)) throw new Fail(SIGNATURE, what + ": the state parts do not make block " + atBig + "'s state root");
      const fromBytes = new Uint8Array(8);
      for (let i = 0, v = start; i < 8; i++, v >>= 8n) fromBytes[7 - i] = Number(v & 0xffn);
      const key = concat(SIGNERS_KEY_PREFIX, fromBytes);
      if (!(await smtVerifyMember(h, parts[2], await h(key), await h(Cbor.encode(keys)), siblings))) throw new Fail(SIGNATURE, what + ": block " + atBig + "'s state does not hold this signer set from " + start);
      current = new Set(hexKeys);
      last = start;
    }
    if (BigInt(height) < last) throw new Fail(SIGNATURE, "the block (" + height + ") is older than its last signer set change (" + last + ")");
    return current;
  }

  function args(body) {
    const a = mget(body, "args");
    return a instanceof Map ? a : new Map(); // receipt.py: body.get("args", {})
  }

  async function checkDocument(h, document, body, result) {
    const digest = document.digest, batchIndex = document.batchIndex;
    const data = mget(result, "data");
    const expected = batchIndex === null ? "anchor" : "anchor_batch";
    const isNotary = pyEq(mget(result, "contract"), "notary") && pyEq(mget(result, "method"), expected);
    if (!isNotary || !(data instanceof Map)) throw new Fail(PROOF, "the transaction is not a notary " + expected);
    if (batchIndex === null) {
      if (body === null || !pyEq(mget(args(body), "digest"), digest)) throw new Fail(PROOF, "the transaction did not anchor this digest");
      return;
    }
    if (!isInt(batchIndex) || !isBytes(mget(data, "root")) || !isInt(mget(data, "count"))) throw new Fail(PROOF, "the result holds no batch root for this document");
    const leaf = await leafHash(h, digest);
    if (!(await verifyInclusion(h, leaf, batchIndex, data.get("count"), document.batchPath, data.get("root")))) throw new Fail(PROOF, "the document is not in the anchored batch");
    if (body !== null) {
      const found = mget(args(body), "digests");
      const digests = truthy(found) ? found : [];
      const i = Number(batchIndex);
      if (!(Array.isArray(digests) || isBytes(digests)) || i >= digests.length || !pyEq(digests[i], digest)) throw new Fail(PROOF, "the transaction did not anchor this digest at this position");
    }
  }

  /* The verdict, as `govchain verify --json` prints it: {valid, failure, message, ...facts}.
   * `fileDigest` (Uint8Array or null) is the suite hash of the file, computed by the caller. */
  async function verifyReceipt(receipt, fileDigest, trustedGenesis) {
    fileDigest = fileDigest || null;
    trustedGenesis = trustedGenesis || null;
    try {
      const version = get(receipt, "version");
      if (get(receipt, "format") !== RECEIPT_FORMAT || !isInt(version) || !pyEq(version, RECEIPT_VERSION)) throw new ReceiptUnreadable("not a " + RECEIPT_FORMAT + " version " + RECEIPT_VERSION + " receipt");
      const suiteName = get(receipt, "suite");
      if (typeof suiteName !== "string" || !Object.prototype.hasOwnProperty.call(SUITES, suiteName)) throw new ReceiptUnreadable("unknown suite " + JSON.stringify(suiteName));
      const parts = parse(receipt);
      const facts = await check(SUITES[suiteName], parts, fileDigest, trustedGenesis);
      return Object.assign({ valid: true, failure: null, message: "valid" }, facts);
    } catch (err) {
      if (err instanceof Fail) return { valid: false, failure: err.failure, message: err.message };
      if (err instanceof ReceiptUnreadable) return { valid: false, failure: UNREADABLE, message: err.message };
      throw err; // CryptoUnavailable or a bug: never a verdict
    }
  }

  /* Text in, verdict out; reading errors are verdicts too (failure "unreadable"). */
  async function verifyText(text, fileDigest, trustedGenesis) {
    let receipt;
    try { receipt = loadReceipt(text); } catch (err) {
      if (err instanceof ReceiptUnreadable) return { valid: false, failure: UNREADABLE, message: err.message };
      throw err;
    }
    return verifyReceipt(receipt, fileDigest, trustedGenesis);
  }

  root.GovVerify = {
    verifyText, verifyReceipt, loadReceipt, hashFile, verifyInclusion, SUITES, toHex, fromHex,
    CryptoUnavailable, RECEIPT_FORMAT, RECEIPT_VERSION,
    FAILURES: [UNREADABLE, WRONG_CHAIN, SIGNATURE, PROOF, FILE_ALTERED],
  };
})(typeof window !== "undefined" ? window : globalThis);
