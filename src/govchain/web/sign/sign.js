/* govchain signing in the browser: keys, canonical CBOR, transactions, signed requests.
 *
 * The browser side of src/govchain/ledger/transactions.py and ledger/requests.py, for
 * pages that write. A key is loaded from a key file (crypto/keyfile.py: JSON
 * {"suite", "private", "public"} in hex) and kept in memory only: nothing here stores it
 * or sends it anywhere. What is signed:
 *   - a transaction: the canonical CBOR body {v, chain, from, contract, method, args,
 *     nonce, expiry}; signature over "govchain-tx\0" || body; wire form {"sig", "body"};
 *     its id is H(body);
 *   - a signed request: body {purpose, chain, t, ...}; signature over
 *     "govchain/request/v1" || CBOR(body); sent as {"body", "key", "sig"} in hex.
 * Suites: intl = ECDSA P-256 with SHA-256 (the vendored @noble/curves, RFC 6979 nonces);
 * gm = SM2 with SM3 over Z for the default ID "1234567812345678" (crypto/gm.py), with the
 * nonce k from crypto.getRandomValues. Signatures are 64 bytes, r || s.
 * Values: plain objects are CBOR maps, Uint8Arrays byte strings, integers (Number or
 * BigInt) CBOR integers; codec.py's data model and order (GovCbor.encode).
 */
(function (root) {
  "use strict";
  const Cbor = root.GovCbor;
  const utf8 = new TextEncoder();
  const TX_VERSION = 1;
  const TX_DOMAIN = utf8.encode("govchain-tx\u0000");
  const REQUEST_DOMAIN = utf8.encode("govchain/request/v1");
  const DEFAULT_TTL_MS = 10 * 60 * 1000;

  class SignError extends Error {
    /* `code` is the node's machine-readable reason (or a local one: bad_key_file, ...). */
    constructor(code, message) { super(message); this.code = code; }
  }

  // --- bytes --------------------------------------------------------------------------

  function toHex(b) { return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(""); }
  function fromHex(s) {
    if (typeof s !== "string" || s.length % 2 || /[^0-9a-fA-F]/.test(s)) throw new SignError("bad_hex", "not hex: " + String(s).slice(0, 20));
    const out = new Uint8Array(s.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
    return out;
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  function randomBytes(n) { const out = new Uint8Array(n); root.crypto.getRandomValues(out); return out; }
  function big(bytes) { return bytes.length ? BigInt("0x" + toHex(bytes)) : 0n; }
  function bytes32(n) { return fromHex(n.toString(16).padStart(64, "0")); }

  /* A JS value in codec.py's data model as GovCbor's (maps as Map). */
  function toCbor(v) {
    if (v === null || typeof v === "boolean" || typeof v === "string" || typeof v === "bigint" || v instanceof Uint8Array) return v;
    if (typeof v === "number") {
      if (!Number.isInteger(v)) throw new Cbor.CodecError("type", "floats are not part of the encoding");
      return v;
    }
    if (Array.isArray(v)) return v.map(toCbor);
    if (v instanceof Map) return new Map(Array.from(v, ([k, x]) => [k, toCbor(x)]));
    const proto = typeof v === "object" ? Object.getPrototypeOf(v) : undefined;
    if (proto === Object.prototype || proto === null) return new Map(Object.entries(v).map(([k, x]) => [k, toCbor(x)])); // plain objects only (not a Date)
    throw new Cbor.CodecError("type", "value is not part of the encoding");
  }
  function encode(value) { return Cbor.encode(toCbor(value)); }

  // --- SM2 (GB/T 32918, GM/T 0003): the curve arithmetic signing needs ----------------

  const SM2 = {
    p: BigInt("0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffff"),
    a: BigInt("0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffc"),
    b: BigInt("0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93"),
    n: BigInt("0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123"),
    gx: BigInt("0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7"),
    gy: BigInt("0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0"),
  };
  const SM2_ID = utf8.encode("1234567812345678");

  function mod(a, m) { const r = a % m; return r < 0n ? r + m : r; }
  function inv(a, m) { // extended Euclid; a is never 0 mod m here
    let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
    while (r1 !== 0n) { const q = r0 / r1; [r0, r1] = [r1, r0 - q * r1]; [s0, s1] = [s1, s0 - q * s1]; }
    return mod(s0, m);
  }
  /* Jacobian coordinates [X, Y, Z] over SM2's prime field (a = -3); Z = 0 is the point at infinity. */
  function jDouble([x, y, z]) {
    const p = SM2.p;
    if (z === 0n || y === 0n) return [0n, 1n, 0n];
    const yy = mod(y * y, p), zz = mod(z * z, p);
    const s = mod(4n * x * yy, p);
    const m = mod(3n * (x - zz) * (x + zz), p);
    const x3 = mod(m * m - 2n * s, p);
    return [x3, mod(m * (s - x3) - 8n * yy * yy, p), mod(2n * y * z, p)];
  }
  function jAddAffine(P, qx, qy) {
    const p = SM2.p;
    const [x1, y1, z1] = P;
    if (z1 === 0n) return [qx, qy, 1n];
    const z1z1 = mod(z1 * z1, p);
    const u2 = mod(qx * z1z1, p), s2 = mod(qy * z1 * z1z1, p);
    const h = mod(u2 - x1, p), r = mod(s2 - y1, p);
    if (h === 0n) return r === 0n ? jDouble(P) : [0n, 1n, 0n];
    const hh = mod(h * h, p), hhh = mod(h * hh, p), v = mod(x1 * hh, p);
    const x3 = mod(r * r - hhh - 2n * v, p);
    return [x3, mod(r * (v - x3) - y1 * hhh, p), mod(z1 * h, p)];
  }
  function sm2Mul(k) { // k·G, affine
    let acc = [0n, 1n, 0n];
    for (let i = BigInt(k.toString(2).length) - 1n; i >= 0n; i--) {
      acc = jDouble(acc);
      if ((k >> i) & 1n) acc = jAddAffine(acc, SM2.gx, SM2.gy);
    }
    if (acc[2] === 0n) throw new SignError("bad_key", "point at infinity");
    const zi = inv(acc[2], SM2.p), zi2 = mod(zi * zi, SM2.p);
    return [mod(acc[0] * zi2, SM2.p), mod(acc[1] * zi2 * zi, SM2.p)];
  }
  function sm3(data) { return fromHex(root.sm3(Array.from(data))); }
  function randomScalar(below) { return mod(big(randomBytes(48)), below - 1n) + 1n; } // uniform in [1, below-1] up to 2^-128

  function sm2Public(priv) {
    const [x, y] = sm2Mul(big(priv));
    return concat(Uint8Array.of(4), bytes32(x), bytes32(y));
  }
  /* Z = SM3(ENTL || ID || a || b || Gx || Gy || xA || yA), then e = SM3(Z || M): what gm.py's libcrypto computes. */
  function sm2Digest(pub, msg) {
    const z = sm3(concat(Uint8Array.of(0x00, 0x80), SM2_ID, bytes32(SM2.a), bytes32(SM2.b), bytes32(SM2.gx), bytes32(SM2.gy), pub.subarray(1)));
    return big(sm3(concat(z, msg)));
  }
  function sm2Sign(priv, msg) {
    const d = big(priv), n = SM2.n;
    const e = sm2Digest(sm2Public(priv), msg);
    for (;;) {
      const k = randomScalar(n);
      const r = mod(e + sm2Mul(k)[0], n);
      if (r === 0n || r + k === n) continue;
      const s = mod(inv(1n + d, n) * (k - r * d), n);
      if (s !== 0n) return concat(bytes32(r), bytes32(s));
    }
  }

  // --- suites ---------------------------------------------------------------------------

  function noble() {
    if (!root.GovNoble) throw new SignError("crypto_unavailable", "the P-256 library did not load");
    return root.GovNoble;
  }

  const SUITES = {
    intl: {
      name: "intl",
      order: BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"),
      hash(data) { return noble().sha256(data); },
      publicKey(priv) { return noble().p256.getPublicKey(priv, false); },
      sign(priv, msg) { return noble().p256.sign(msg, priv, { prehash: true, lowS: false, format: "compact" }); },
      generate() { const priv = bytes32(randomScalar(this.order)); return { private: priv, public: this.publicKey(priv) }; },
    },
    gm: {
      name: "gm",
      order: SM2.n,
      hash(data) { return sm3(data); },
      publicKey: sm2Public,
      sign: sm2Sign,
      generate() { const priv = bytes32(randomScalar(SM2.n - 1n)); return { private: priv, public: sm2Public(priv) }; }, // [1, n-2], as gm.py
    },
  };
  function suite(name) {
    const s = SUITES[name];
    if (!s) throw new SignError("unknown_suite", "unknown suite: " + name);
    return s;
  }

  // --- keys -----------------------------------------------------------------------------

  /* A key file's text -> {suite, private, public}; the public key must match the private one. */
  function loadKeyFile(text) {
    let doc, s, priv, pub;
    try {
      doc = JSON.parse(text);
      s = suite(doc.suite);
      priv = fromHex(doc.private);
      if (priv.length !== 32 || big(priv) === 0n || big(priv) >= s.order - (s.name === "gm" ? 1n : 0n)) throw new Error("private key out of range");
      pub = s.publicKey(priv);
    } catch (e) {
      throw new SignError("bad_key_file", "not a usable govchain key file (" + (e.message || e) + ")");
    }
    if (doc.public && doc.public.toLowerCase() !== toHex(pub)) throw new SignError("bad_key_file", "the public key does not match the private key");
    return { suite: s.name, private: priv, public: pub };
  }
  function keyFileText(keys) {
    return JSON.stringify({ suite: keys.suite, private: toHex(keys.private), public: toHex(keys.public) }, null, 2) + "\n";
  }
  function generateKeys(suiteName) { return Object.assign({ suite: suiteName }, suite(suiteName).generate()); }
  function sign(keys, msg) { return suite(keys.suite).sign(keys.private, msg); }

  // --- transactions and signed requests -------------------------------------------------

  /* A signed transaction: {raw, id, body, bodyBytes, sig}, as transactions.sign_tx builds it. */
  function buildTx(keys, chainId, contract, method, args, opts) {
    opts = opts || {};
    const s = suite(keys.suite);
    const body = {
      v: TX_VERSION, chain: chainId, from: keys.public, contract, method, args,
      nonce: opts.nonce || randomBytes(16),
      expiry: opts.expiry !== undefined ? opts.expiry : Date.now() + (opts.ttl || DEFAULT_TTL_MS),
    };
    const bodyBytes = encode(body);
    const sig = s.sign(keys.private, concat(TX_DOMAIN, bodyBytes));
    const raw = Cbor.encode(new Map([["sig", sig], ["body", bodyBytes]]));
    return { raw, id: s.hash(bodyBytes), body, bodyBytes, sig };
  }

  /* {"body", "key", "sig"} in hex, as requests.sign_request; `t` is now unless given. */
  function signRequest(keys, chainId, purpose, fields, t) {
    const body = Object.assign({ purpose, chain: chainId, t: t === undefined ? Date.now() : t }, fields || {});
    const encoded = encode(body);
    return { body: toHex(encoded), key: toHex(keys.public), sig: toHex(sign(keys, concat(REQUEST_DOMAIN, encoded))) };
  }

  // --- the node -------------------------------------------------------------------------

  async function http(path, options) {
    let res;
    try {
      res = await fetch(path, Object.assign({ headers: { accept: "application/json", "content-type": "application/json" } }, options || {}));
    } catch (e) {
      throw new SignError("offline", "cannot reach the node");
    }
    let reply = null;
    try { reply = await res.json(); } catch (e) { reply = null; }
    if (!res.ok) {
      const err = (reply && reply.error) || {};
      throw new SignError(err.code || "http_" + res.status, err.message || "HTTP " + res.status);
    }
    return reply;
  }

  let chainCache = null;
  /* The chain's id and suite (GET /v1/chain), fetched once per page load. */
  async function chain() {
    if (!chainCache) {
      const info = await http("/v1/chain");
      chainCache = { id: info.chain_id, suite: info.suite };
    }
    return chainCache;
  }
  async function checkedChain(keys) {
    const c = await chain();
    if (c.suite !== keys.suite) throw new SignError("wrong_suite", "this key is for the " + keys.suite + " suite; the chain uses " + c.suite);
    return c;
  }

  /* Sign and submit one transaction, waiting for its block; throws SignError(code) unless it
   * committed with "ok" (as sdk Client.call). Returns {id (hex), height, tx}. */
  async function call(keys, contract, method, args) {
    const c = await checkedChain(keys);
    const tx = buildTx(keys, c.id, contract, method, args);
    const reply = await http("/v1/txs?wait=true&timeout=30", { method: "POST", body: JSON.stringify({ tx: toHex(tx.raw) }) });
    if (reply.status === "rejected" || (reply.status === "committed" && reply.code !== "ok")) throw new SignError(reply.code, reply.message || "transaction failed");
    if (reply.status !== "committed") throw new SignError("not_committed", reply.message || "not committed in time");
    return { id: toHex(tx.id), height: reply.height, tx };
  }

  /* A restricted read: an audit.read transaction the chain records, then the data (POST /v1/reads). */
  async function read(keys, contract, query, args, purpose) {
    const c = await checkedChain(keys);
    const tx = buildTx(keys, c.id, "audit", "read", { contract, query, args: args || {}, purpose: purpose || "" });
    const reply = await http("/v1/reads?timeout=30", { method: "POST", body: JSON.stringify({ tx: toHex(tx.raw) }) });
    return reply.data;
  }

  /* POST a signed request (not a transaction: never ordered) to a route that expects `purpose`. */
  async function postSigned(keys, path, purpose, fields) {
    const c = await checkedChain(keys);
    return http(path, { method: "POST", body: JSON.stringify(signRequest(keys, c.id, purpose, fields)) });
  }

  root.GovSign = {
    SignError, SUITES, suite, toHex, fromHex, concat, randomBytes, encode, toCbor,
    loadKeyFile, keyFileText, generateKeys, sign, buildTx, signRequest,
    chain, call, read, postSigned, http, TX_DOMAIN, REQUEST_DOMAIN,
  };
})(typeof window !== "undefined" ? window : globalThis);
